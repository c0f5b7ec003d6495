# A Switchboard callback server written the way koipy's docs write theirs (docs/callbacks.md):
# each handler takes the payload, changes its own part and answers with the whole of it.
# It blocks a user, lets a few users past the per-user limit (docs/limits.md), adds an image
# to /cat and upper-cases the answer to /echo. A body over 10 MiB gets 413.
# Run: pip install aiohttp standardwebhooks
#      CALLBACK_SECRET=whsec_... CALLBACK_PORT=8080 python3 examples/callback_server.py
# and point the stages at it:
#   callbacks: { onMessage: http://127.0.0.1:8080/onMessage, onResult: http://127.0.0.1:8080/onResult }
import base64
import os

from aiohttp import web

BLOCKED = {"mallory"}  # author ids that may not use the bot
VIPS = {"vera"}  # author ids the per-user limit does not stop
MAX_BODY = 10 * 1024 * 1024  # Switchboard's default maxRequestSize: it sends nothing larger
CAT = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")  # 1x1 PNG
SECRET = os.environ.get("CALLBACK_SECRET")
if SECRET:
    from standardwebhooks import Webhook  # verifies webhook-id, webhook-timestamp, webhook-signature

    WEBHOOK = Webhook(SECRET)


@web.middleware
async def verify(request: web.Request, handler):
    """With CALLBACK_SECRET set, every request must carry a valid signature over its raw body."""
    try:
        raw = await request.read()  # at most client_max_size bytes
    except web.HTTPRequestEntityTooLarge:
        return web.Response(status=413)  # an empty body, as the TypeScript server answers
    if SECRET:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            WEBHOOK.verify(raw.decode(), headers)
        except Exception:
            return web.Response(status=401)  # an empty body: Switchboard stops the message silently
    return await handler(request)  # aiohttp keeps the body, so the handler's request.json() still reads it


async def on_message(request: web.Request) -> web.Response:
    data = await request.json()
    if data["message"]["author"]["id"] in BLOCKED:
        return web.Response(status=403, text="You are blocked from using this bot.")  # stop; the user sees the text
    if data["message"]["author"]["id"] in VIPS and data.get("limit", {}).get("exceeded"):
        data["limit"]["exceeded"] = False  # the whole payload back with `exceeded: false`: the message goes on
        return web.json_response(data)
    return web.json_response()  # JSON null: go on unchanged


def upper(segment):
    return {**segment, "text": segment["text"].upper()} if segment["type"] == "text" else segment


async def on_result(request: web.Request) -> web.Response:
    data = await request.json()
    command = data["request"]["command"]
    if command == "cat":
        return web.Response(body=CAT, content_type="image/png")  # the bot's replies go out, then this picture
    if command == "echo":
        for reply in data["result"]["replies"]:
            reply["content"] = [upper(s) for s in reply["content"]]
    return web.json_response(data)  # the whole payload back: its `result` is merged, the rest is ignored


async def go_on(request: web.Request) -> web.Response:
    return web.Response(status=204)  # any other stage: go on unchanged


# aiohttp's own default is 1 MiB, below what Switchboard may send; past this, read() raises 413
app = web.Application(client_max_size=MAX_BODY, middlewares=[verify])
app.router.add_post("/onMessage", on_message)
app.router.add_post("/onResult", on_result)
app.router.add_post("/{tail:.*}", go_on)

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(os.environ.get("CALLBACK_PORT", "8080")))
