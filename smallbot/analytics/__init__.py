"""What the conversation log and the evaluation say about a bot: `report`, `learn` and `eval`'s HTML."""
