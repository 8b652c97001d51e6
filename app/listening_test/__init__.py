"""Blind listening tests (ABX and MUSHRA): the stimuli, the randomised plan, the test file,
the listener's session and the statistics of the results. No widgets: the window lives in ui/."""
