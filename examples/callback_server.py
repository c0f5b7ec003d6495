# A Switchboard callback server (docs/callbacks.md): blocks a user, adds an image, rewrites an answer.
# Run: pip install aiohttp standardwebhooks
#      CALLBACK_SECRET=whsec_... CALLBACK_PORT=8080 python3 examples/callback_server.py
# and point the stages at it: callbacks: { onMessage: http://127.0.0.1:8080/, onResult: http://127.0.0.1:8080/ }
import base64
import json
import os

from aiohttp import web

BLOCKED = {"mallory"}  # author ids that may not use the bot
CAT = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")  # 1x1 PNG
SECRET = os.environ.get("CALLBACK_SECRET")
if SECRET:
    from standardwebhooks import Webhook  # verifies webhook-id, webhook-timestamp, webhook-signature

    WEBHOOK = Webhook(SECRET)


def upper(segment):
    return {**segment, "text": segment["text"].upper()} if segment["type"] == "text" else segment


async def handle(request: web.Request) -> web.Response:
    raw = (await request.read()).decode()
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        event = WEBHOOK.verify(raw, headers) if SECRET else json.loads(raw)
    except Exception:
        return web.Response(status=401)  # bad or missing signature; an empty body stops the message silently
    stage, command = event["stage"], (event.get("request") or {}).get("command")
    if stage == "onMessage" and event["message"]["author"]["id"] in BLOCKED:
        return web.Response(status=403, text="You are blocked from using this bot.")  # stop; the user sees the text
    if stage == "onResult" and command == "cat":
        return web.Response(body=CAT, content_type="image/png")  # the bot's replies go out, then this picture
    if stage == "onResult" and command == "echo":
        replies = [{**r, "content": [upper(s) for s in r["content"]]} for r in event["result"]["replies"]]
        return web.json_response({"replies": replies})  # merged into the result
    return web.Response(status=204)  # go on unchanged


app = web.Application()
app.router.add_post("/{tail:.*}", handle)

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(os.environ.get("CALLBACK_PORT", "8080")))
