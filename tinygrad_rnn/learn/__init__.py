"""Learning recurrent graphs: BPTT (full, truncated, Williams & Peng's online schedule), RTRL
(generic, and the Williams-Zipser textbook version)."""
from .bptt import bptt, online_bptt  # noqa: F401
from .error_flow import ErrorFlow, error_flow, error_flow_data  # noqa: F401
from .online import online_rtrl, online_truncated_bptt, squared_error  # noqa: F401
from .rtrl import rtrl  # noqa: F401
from .textbook_rtrl import williams_zipser_bptt_numpy, williams_zipser_rtrl  # noqa: F401
