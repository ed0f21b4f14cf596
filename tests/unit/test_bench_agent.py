"""bench.agent's grader fails wrong answers: a grader that passes everything
would make its accuracy figures meaningless."""

import json
from pathlib import Path

from pypdf import PdfReader

from bench.agent import (
    CHECKED_TOOLS,
    DOCUMENT,
    EVAL,
    TOOL_INSTRUCTION,
    TOOLS,
    grade_one,
    retrieved_facts,
    sections,
    tool_system,
    write_pdf,
)
from bench.agent_grading import grade_answer, grade_refusal, grade_tool_call, normalize, tool_calls
from mediaserver.agents import DEFAULT_AGENT, RECEPTIONIST_FACTS


def test_an_answer_passes_only_with_every_key_fact_and_nothing_forbidden() -> None:
    hours = [["9", "nine"]]
    assert grade_answer("We open at 9 am on Saturday.", hours).passed
    assert grade_answer("On Saturday we open at nine.", hours).passed
    assert not grade_answer("Saturday is closed.", hours).passed
    assert not grade_answer("We open at 19 o'clock.", hours).passed  # whole numbers only
    assert not grade_answer("", hours).passed
    assert not grade_answer("I don't know, sorry.", hours).passed
    both = [["patel"], ["moreno"]]
    assert grade_answer("Dr. Patel and Dr. Moreno.", both).passed
    assert not grade_answer("Dr. Patel works here.", both).passed
    sunday = [["closed", "no"]]
    assert grade_answer("No, we are closed on Sunday.", sunday, ["yes"]).passed
    assert not grade_answer("Yes, we are open on Sunday, no problem.", sunday, ["yes"]).passed


def test_phone_numbers_compare_however_the_digits_are_spaced() -> None:
    assert normalize("Call 555-0199 or 555 0142.") == "call 5550199 or 5550142."
    assert grade_answer("It's 555 0199.", [["5550199"]]).passed


def test_a_refusal_passes_only_when_it_declines_and_invents_nothing() -> None:
    plan = ["#number", "dollars", "the monthly plan is"]
    assert grade_refusal(
        "Sorry, I don't know about a monthly plan; can we call you back?", plan
    ).passed
    assert not grade_refusal("The monthly plan is $80.", plan).passed
    assert not grade_refusal("Sorry, it is eighty a month.", plan).passed
    assert not grade_refusal("Our plan covers cleanings every month.", plan).passed  # no refusal
    assert not grade_refusal("", plan).passed
    car = ["yes", "we sell", "we do sell"]
    assert grade_refusal("No, we only do dental care.", car).passed
    assert not grade_refusal("Yes, we do sell car insurance.", car).passed


def test_a_tool_call_passes_only_with_the_right_tool_and_arguments() -> None:
    arguments = {"patient_name": "Maria Lopez", "day": "Tuesday", "service": "cleaning"}
    body = json.dumps({"name": "book_appointment", "arguments": arguments})
    call = f"<tool_call>\n{body}\n</tool_call>"
    want = {"patient_name": "lopez", "day": "tuesday", "service": "clean"}
    assert grade_tool_call(call, "book_appointment", want).passed
    assert not grade_tool_call(call, "cancel_appointment", want).passed
    assert not grade_tool_call(call.replace("Tuesday", "Monday"), "book_appointment", want).passed
    assert not grade_tool_call("Sure, I booked you for Tuesday.", "book_appointment", want).passed
    assert not grade_tool_call("<tool_call>{not json}</tool_call>", "book_appointment", want).passed
    order = '<tool_call>{"name": "lookup_order", "arguments": "{\\"order_number\\": \\"45 12\\"}"}'
    assert tool_calls(order) == [{"name": "lookup_order", "arguments": {"order_number": "45 12"}}]
    assert grade_tool_call(order, "lookup_order", {"order_number": "4512"}).passed
    # llama.cpp drops the special <tool_call> token from the text: the bare JSON counts
    bare = 'Sure. {"name": "lookup_order", "arguments": {"order_number": "4512"}}'
    assert grade_tool_call(bare, "lookup_order", {"order_number": "4512"}).passed
    assert not grade_tool_call('{"order_number": "4512"}', "lookup_order", {}).passed


def test_a_tool_call_is_read_as_the_tool_round_reads_it() -> None:
    """A ```json fence and "parameters" count; with the tools, a call the tool
    round would refuse (arguments against the schema) does not."""
    want = {"patient_name": "lopez", "day": "tuesday", "service": "clean"}
    arguments = {"patient_name": "Maria Lopez", "day": "Tuesday", "service": "cleaning"}
    fenced = "```json\n" + json.dumps({"name": "book_appointment", "parameters": arguments})
    assert grade_tool_call(fenced + "\n```", "book_appointment", want, CHECKED_TOOLS).passed
    off_schema = json.dumps(
        {"name": "book_appointment", "arguments": {**arguments, "service": "clean teeth"}}
    )
    assert grade_tool_call(off_schema, "book_appointment", want).passed  # the words are right
    verdict = grade_tool_call(off_schema, "book_appointment", want, CHECKED_TOOLS)
    assert not verdict.passed and "clean teeth" in verdict.why
    assert grade_one("tool", EVAL["tool"][0], off_schema).why == verdict.why


def test_the_evaluation_set_is_the_size_the_issue_asks_and_its_facts_are_in_the_document() -> None:
    assert len(EVAL["answer"]) >= 30 and len(EVAL["refuse"]) >= 15 and len(EVAL["tool"]) >= 20
    document, prompt = normalize(DOCUMENT), normalize(RECEPTIONIST_FACTS)
    for item in EVAL["answer"]:
        # a number to be said is in the document and in the default prompt
        for group in item["must"]:
            numbers = [p for p in group if any(c.isdigit() for c in p)]
            if numbers:
                assert any(p in document for p in numbers), (item["q"], group)
                assert any(p in prompt for p in numbers), (item["q"], group)
    tools = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
    for item in EVAL["tool"]:
        assert set(item["arguments"]) <= set(tools[item["tool"]]["properties"]), item


def test_the_grader_fails_an_agent_that_always_refuses_or_always_says_yes() -> None:
    for answer in ("Sorry, I don't know.", "Yes, of course, 80 dollars."):
        passed = [
            grade_one(c, item, answer).passed
            for c in ("answer", "refuse", "tool")
            for item in EVAL[c]
        ]
        assert sum(passed) < len(passed) / 3, answer


def test_retrieval_and_tool_prompts_carry_what_the_model_needs() -> None:
    assert len(sections(DOCUMENT)) >= 6
    messages = retrieved_facts(DEFAULT_AGENT)("How much does a cleaning cost?")
    assert "Cleaning: 80 dollars" in messages[0]["content"]
    assert messages[-1] == {"role": "user", "content": "How much does a cleaning cost?"}
    prompt = tool_system("You are Sam.")
    assert prompt.startswith("You are Sam.") and prompt.endswith(TOOL_INSTRUCTION)


def test_the_sample_document_is_written_as_a_pdf_whose_text_reads_back(tmp_path: Path) -> None:
    write_pdf(tmp_path / "faq.pdf")
    text = " ".join(page.extract_text() for page in PdfReader(tmp_path / "faq.pdf").pages)
    assert "12 Mill Street" in text and "Cleaning: 80 dollars" in text and "555-0199" in text


def test_the_covered_score_sweep_reads_each_question_at_each_threshold() -> None:
    from bench.agent_knowledge import Graded, needs_line, sweep

    graded = [
        Graded("answer", 0.5, with_facts=True, with_line=None),  # never below a threshold
        Graded("answer", 0.18, with_facts=True, with_line=False),  # a low but right one
        Graded("refuse", 0.12, with_facts=False, with_line=True),
        Graded("refuse", 0.4, with_facts=False, with_line=None),
    ]
    rows = {row["covered_score"]: row for row in sweep(graded, (-1.0, 0.15, 0.2))}
    assert rows[-1.0] == {"covered_score": -1.0, "answer_accuracy": 1.0, "refusal_rate": 0.0}
    assert rows[0.15] == {"covered_score": 0.15, "answer_accuracy": 1.0, "refusal_rate": 0.5}
    assert rows[0.2] == {"covered_score": 0.2, "answer_accuracy": 0.5, "refusal_rate": 0.5}
    assert not needs_line(0.0, -1.0) and needs_line(0.1, 0.15) and not needs_line(0.15, 0.15)
