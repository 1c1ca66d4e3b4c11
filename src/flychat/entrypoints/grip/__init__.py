"""The HTTP side of GRIP: hold headers, Grip-Last, Grip-Sig, the stateless stream answer."""
