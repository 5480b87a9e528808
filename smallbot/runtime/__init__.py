"""Turning a built bot into replies: the composition root (`bot.py`), the decision flow of one message
(`router.py`, read it top-down) and the per-conversation state between turns."""
