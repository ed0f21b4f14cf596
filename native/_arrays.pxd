# Fast argument checks for the compiled kernels. On the fast path they are a
# few pointer compares; on failure they call the reference checker so both
# implementations raise the same message.
cimport numpy as cnp
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_CheckBuffer, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_CheckExact
from libc.stdint cimport uint8_t
from libc.string cimport memcpy

cnp.import_array()


cdef inline cnp.ndarray pcm_array(
        object value, str name, Py_ssize_t max_samples, int typenum=cnp.NPY_INT16):
    if (type(value) is cnp.ndarray
            and cnp.PyArray_TYPE(<cnp.ndarray>value) == typenum
            and cnp.PyArray_NDIM(<cnp.ndarray>value) == 1
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>value)
            and cnp.PyArray_DIM(<cnp.ndarray>value, 0) <= max_samples):
        return <cnp.ndarray>value
    from native._checks import as_array
    return as_array(value, name, max_samples, cnp.PyArray_DescrFromType(typenum))


cdef inline Py_ssize_t copy_bytes(
        object value, str name, uint8_t* out, Py_ssize_t max_bytes) except -1:
    """Copy a bytes-like payload into out; return its length."""
    cdef Py_ssize_t n
    cdef Py_buffer view
    if PyBytes_CheckExact(value):
        n = PyBytes_GET_SIZE(value)
        if n <= max_bytes:
            memcpy(out, PyBytes_AS_STRING(value), n)
            return n
    elif type(value) is not cnp.ndarray and PyObject_CheckBuffer(value):
        if PyObject_GetBuffer(value, &view, PyBUF_SIMPLE) == 0:
            n = view.len
            if n <= max_bytes:
                memcpy(out, view.buf, n)
            PyBuffer_Release(&view)
            if n <= max_bytes:
                return n
    from native._checks import as_codes
    as_codes(value, name, max_bytes)
    raise TypeError(f"{name}: expected bytes")
