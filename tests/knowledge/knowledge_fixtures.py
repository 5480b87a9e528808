"""FAQ entries the knowledge tests share (importable by name, unlike conftest)."""

from __future__ import annotations

from smallbot.knowledge.entries import FaqEntry

ENTRIES = [
    FaqEntry("reset-password", "How do I reset my password?",
             ("I forgot my password", "cannot log in need new password", "password reset link"),
             'Click "Forgot password" on the sign-in page.'),
    FaqEntry("opening-hours", "What are your opening hours?",
             ("when are you open", "what time do you open", "business hours"), "Monday to Friday, 9 to 5."),
    FaqEntry("refund", "Can I get a refund?", ("I want my money back", "how do refunds work", "return policy"),
             "Refunds within 30 days of purchase."),
    FaqEntry("delete-account", "How do I delete my account?",
             ("remove my account", "close my account permanently", "erase my profile"), "Settings, Account, Delete account."),
]
