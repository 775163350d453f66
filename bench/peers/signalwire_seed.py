"""The SignalWire tutorial's Python Flask app ("Two Factor Authentication via SMS"), reconstructed
from /work/shared/seeds/002_0bee3b72c91e3a30.txt for the benchmark. Its flaws are kept on purpose:
they are what the benchmark measures.

- Every session lives in one module-level list, `data['requests']`, of the process that took the
  request: each gunicorn or granian worker has its own, so a code stored by one worker is unknown
  to the others (and all are lost on a restart).
- `lookup_code` scans the whole list on every check: it does not stop at the number, only at a
  matching number *and* code, so a wrong code always walks all N entries.
- `/validate-auth` is declared with `@app.route('/validate-auth')`, i.e. GET only: the POST that
  the tutorial's own HTML form sends gets 405 from Flask. It reads `request.values`, so the bench
  sends its checks as GET with the form's two fields in the query string.
- Both routes answer HTTP 200 with the body "200" or "403": a refused code is a 200 response.
- No limit on wrong codes, no expiry, the number is taken as typed with a '+' put in front.

Changed for the benchmark only:

- No SMS is sent and no SignalWire client is made (the tutorial builds one per request from
  SIGNALWIRE_PROJECT/TOKEN/SPACE and calls `client.messages.create`): nothing leaves the machine.
- Because nothing is sent, `/request-auth` returns the code in an `X-Bench-Code` header (and the
  worker's pid in `X-Bench-Worker`) so the bench can submit the right code; the tutorial's app
  never reveals the code.
- `create_app()` preloads `SEED_PENDING` sessions (numbers and codes known from their index, see
  `pending_number` and `pending_code`), so the list is N long before the first check.
- `/healthz` answers 200 "ok" for the bench's readiness wait.

Serve it as `bench.peers.signalwire_seed:create_app()` (gunicorn) or, with granian --factory,
`bench.peers.signalwire_seed:create_app`.
"""

from __future__ import annotations

import os
import random

from flask import Flask, request

app = Flask(__name__)

# Var to store challenge sessions
data = {}
data["requests"] = []


# Lookup auth session, and verify if it matches
def lookup_code(number, code):
    # Loop through all sessions
    for i in range(len(data["requests"])):
        # Look if number is equal to a number in a session, we are prepending a '+'
        if "+" + number == data["requests"][i]["number"]:  # noqa: SIM102 (the tutorial's two steps, kept)
            # Great, We found a session matching that number, now let us check the challenge code
            if code == data["requests"][i]["code"]:
                # We have a match, let's remove the validated session and return true
                data["requests"].pop(i)
                return True
    # Catch all for failed challenges
    return False


# Listen for '/validate-auth' route
@app.route("/validate-auth")
def validate_auth():
    # Grab the authorization code from the GET/POST request
    check_code = request.values.get("auth_code")
    # Grab the phone number from the GET/POST request
    number = request.values.get("number")

    # Verify the number and challenge code
    if lookup_code(number, check_code):
        # Return 200, On Accept
        return "200"

    # Return 403, On Forbidden
    return "403"


# Listen on '/request-auth' for creation of an challenge session from GET/POST requests
@app.route("/request-auth", methods=["GET", "POST"])
def request_auth():
    # (The tutorial initializes the SignalWire client here, from SIGNALWIRE_PROJECT,
    # SIGNALWIRE_TOKEN and SIGNALWIRE_SPACE; the benchmark copy makes none.)

    # Generate a randome 6 digit code between 123456 - 987654
    auth_code = str(random.randint(123456, 987654))
    # Get the phone number to challenge from request
    number = "+" + request.values.get("number")

    # Add the session to the in-memory global request object
    data["requests"].append({"number": number, "code": auth_code})

    # (The tutorial sends the code here with client.messages.create(from_=SIGNALWIRE_NUMBER,
    # body="Your authorization code is: " + auth_code, to=number); the benchmark copy sends nothing.)

    # Return 200. BENCHMARK COPY ONLY: the code (and the worker that stored it) go back in headers,
    # since no SMS carries it; the tutorial's app answers the bare "200".
    return "200", {"X-Bench-Code": auth_code, "X-Bench-Worker": str(os.getpid())}


# Default route
@app.route("/")
def hello():
    return "Hello World!"


# --- added for the benchmark ----------------------------------------------------------------------


@app.route("/healthz")
def healthz():
    return "ok"


def pending_number(i: int) -> str:
    """The i-th preloaded session's number as stored ('+' and digits; bench/seed.py's `number(i)`
    for i < 120 000, and distinct beyond it). A check sends it without the '+', which the app adds."""
    return f"+1650{2530000 + i:07d}"


def pending_code(i: int) -> str:
    """The i-th preloaded session's code: six digits in the tutorial's range, fixed by i."""
    return str(123456 + (i * 2654435761) % (987654 - 123456 + 1))


def create_app() -> Flask:
    """The tutorial's app with `SEED_PENDING` sessions already in this process's list."""
    count = int(os.environ.get("SEED_PENDING", "0"))
    data["requests"] = [{"number": pending_number(i), "code": pending_code(i)} for i in range(count)]
    return app
