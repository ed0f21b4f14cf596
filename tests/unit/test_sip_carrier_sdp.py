from mediaserver.transports.sip_carrier import with_ptime

HEAD = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"


def test_an_audio_section_gets_a_ptime_at_its_end() -> None:
    sdp = HEAD + "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    assert with_ptime(sdp) == sdp + "a=ptime:20\r\n"


def test_a_ptime_already_there_is_kept_and_other_media_are_left_alone() -> None:
    audio = "m=audio 4000 RTP/AVP 0\r\na=ptime:30\r\n"
    video = "m=video 4002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"
    assert with_ptime(HEAD + audio + video) == HEAD + audio + video


def test_each_audio_section_without_one_gets_it_before_the_next_section() -> None:
    sdp = HEAD + "m=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 96\r\nm=audio 4004 RTP/AVP 8\r\n"
    assert with_ptime(sdp) == HEAD + (
        "m=audio 4000 RTP/AVP 0\r\na=ptime:20\r\nm=video 4002 RTP/AVP 96\r\n"
        "m=audio 4004 RTP/AVP 8\r\na=ptime:20\r\n"
    )
