# A Switchboard callback server written the way koipy's docs write theirs (docs/callbacks.md):
# each handler takes the payload, changes its own part and answers with the whole of it.
# It blocks a user, adds an image to /cat and upper-cases the answer to /echo.
# Run: pip install aiohttp standardwebhooks
#      CALLBACK_SECRET=whsec_... CALLBACK_PORT=8080 python3 examples/callback_server.py
# and point the stages at it:
#   callbacks: { onMessage: http://127.0.0.1:8080/onMessage, onResult: http://127.0.0.1:8080/onResult }
import base64
import os

from aiohttp import web

BLOCKED = {"mallory"}  # author ids that may not use the bot
CAT = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")  # 1x1 PNG
SECRET = os.environ.get("CALLBACK_SECRET")
if SECRET:
    from standardwebhooks import Webhook  # verifies webhook-id, webhook-timestamp, webhook-signature

    WEBHOOK = Webhook(SECRET)


@web.middleware
async def verify(request: web.Request, handler):
    """With CALLBACK_SECRET set, every request must carry a valid signature over its raw body."""
    if SECRET:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            WEBHOOK.verify((await request.read()).decode(), headers)
        except Exception:
            return web.Response(status=401)  # an empty body: Switchboard stops the message silently
    return await handler(request)  # aiohttp keeps the body, so the handler's request.json() still reads it


async def on_message(request: web.Request) -> web.Response:
    data = await request.json()
    if data["message"]["author"]["id"] in BLOCKED:
        return web.Response(status=403, text="You are blocked from using this bot.")  # stop; the user sees the text
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


app = web.Application(middlewares=[verify])
app.router.add_post("/onMessage", on_message)
app.router.add_post("/onResult", on_result)
app.router.add_post("/{tail:.*}", go_on)

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(os.environ.get("CALLBACK_PORT", "8080")))
