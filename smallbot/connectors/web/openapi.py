"""The web API as an OpenAPI 3.1 document, served at `GET /openapi.json`.

Written out rather than generated: the routes are few and their JSON shapes live in `.protocol`. A test keeps
it in step with the application's router (every route documented, every documented route served).
"""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
_REFUSALS = {
    str(status): {"description": words, "content": {"application/json": {"schema": _ERROR}}}
    for status, words in (
        (400, "bad_json, bad_request"),
        (401, "bad_api_key"),
        (403, "origin_not_allowed, unknown_conversation"),
        (408, "request_timeout"),
        (413, "request_too_large"),
        (422, "message_too_long, empty_message"),
        (429, "rate_limited (with Retry-After)"),
    )
}
_CONVERSATION_ID = {
    "type": "string",
    "pattern": "^[A-Za-z0-9_-]{8,64}$",
    "description": "leave out to start a conversation; then send back the one the reply gave",
}


def openapi_document(bot_name: str, version: str) -> dict[str, Any]:
    """The document for one served bot."""
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{bot_name} (smallbot web API)", "version": version},
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "web.api_key: lets a server choose conversation ids",
                }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "reason", "status"],
                    "properties": {
                        "error": {"type": "string"},
                        "reason": {"type": "string"},
                        "status": {"type": "integer"},
                        "retry_after": {"type": "integer"},
                    },
                },
                "Message": {
                    "type": "object",
                    "required": ["text"],
                    "properties": {
                        "text": {"type": "string"},
                        "conversation_id": _CONVERSATION_ID,
                        "user": {"type": "string", "maxLength": 80},
                    },
                },
                "Reply": {
                    "type": "object",
                    "required": ["kind", "text", "conversation_id", "message_id"],
                    "properties": {
                        "kind": {"enum": ["answer", "suggest", "respond", "handoff", "generate", "fallback"]},
                        "text": {"type": "string"},
                        "conversation_id": {"type": "string"},
                        "message_id": {"type": "string"},
                        "sources": {"type": "array"},
                        "suggestions": {"type": "array"},
                        "suggestions_label": {"type": "string"},
                        "confidence": {"type": "number"},
                        "intent": {"type": ["string", "null"]},
                        "reason": {"type": "string"},
                        "timings": {"type": "object"},
                    },
                },
                "Feedback": {
                    "type": "object",
                    "required": ["conversation_id", "message_id", "score"],
                    "properties": {
                        "conversation_id": _CONVERSATION_ID,
                        "message_id": {"type": "string"},
                        "score": {"enum": ["up", "down", 1, -1]},
                        "comment": {"type": "string", "maxLength": 1000},
                    },
                },
            },
        },
        "paths": {
            "/": {
                "get": {
                    "summary": "demo page with the widget embedded",
                    "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}},
                }
            },
            "/widget.js": {
                "get": {"summary": "the embeddable widget", "responses": {"200": {"description": "JavaScript"}}}
            },
            "/widget.css": {"get": {"summary": "the widget's styles", "responses": {"200": {"description": "CSS"}}}},
            "/demo.css": {"get": {"summary": "the demo page's styles", "responses": {"200": {"description": "CSS"}}}},
            "/api/messages": {
                "post": {
                    "summary": "answer one message",
                    "security": [{}, {"apiKey": []}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "the reply",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Reply"}}},
                        },
                        **_REFUSALS,
                    },
                }
            },
            "/api/ws": {
                "get": {
                    "summary": "WebSocket: send {type: message, text, conversation_id?}; get chunk frames, then "
                    "{type: reply, reply}; refusals are {type: error, ...} frames and the socket stays open",
                    "responses": {"101": {"description": "switching protocols"}, **_REFUSALS},
                }
            },
            "/api/feedback": {
                "post": {
                    "summary": "a thumbs up or down on one reply, kept in the bot's store",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Feedback"}}},
                    },
                    "responses": {
                        "200": {"description": "stored"},
                        "404": {"description": "unknown_reply", "content": {"application/json": {"schema": _ERROR}}},
                        **_REFUSALS,
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "liveness and the bot's name",
                    "responses": {"200": {"description": "{status: ok, bot}"}},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus text, added up over every worker",
                    "responses": {"200": {"description": "text/plain"}},
                }
            },
            "/openapi.json": {"get": {"summary": "this document", "responses": {"200": {"description": "JSON"}}}},
        },
    }
