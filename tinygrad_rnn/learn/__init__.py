"""Learning recurrent graphs: BPTT (full, truncated), RTRL, error flow."""
