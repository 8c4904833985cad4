"""Pure judgement: the seam to the parser and evaluator (``Engine``), its production binding, and one
target's rules evaluated at one instant into a verdict. No I/O; time is passed in."""
