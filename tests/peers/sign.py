#!/usr/bin/env python3
"""Independent peers for the signature tests: the official `stripe`, `standardwebhooks`,
`svix`, `slack_sdk`, `twilio` and `paddle-python-sdk` libraries (and Python's own hmac
for GitHub and Shopify, which publish no library).

Usage (body on stdin):
  sign.py stripe SECRET TIMESTAMP                 -> Stripe-Signature value
  sign.py standard SECRET MSG_ID TIMESTAMP        -> webhook-signature value
  sign.py github SECRET                           -> X-Hub-Signature-256 value
  sign.py shopify SECRET                          -> X-Shopify-Hmac-Sha256 value
  sign.py verify-stripe SECRET HEADER             -> exit 0 when the library accepts it
  sign.py verify-standard SECRET MSG_ID TIMESTAMP SIGNATURE -> exit 0 when accepted
  sign.py verify-standard-batch   (stdin: JSON [{secret, body, headers}]) -> exit 0 when all verify
  sign.py svix SECRET MSG_ID TIMESTAMP            -> svix-signature value
  sign.py slack SECRET TIMESTAMP                  -> X-Slack-Signature value
  sign.py twilio TOKEN URL                        -> X-Twilio-Signature value (form body, or
                                                     a JSON one when URL has bodySHA256)
  sign.py paddle SECRET TIMESTAMP                 -> Paddle-Signature value
  sign.py verify-svix SECRET MSG_ID TIMESTAMP SIGNATURE -> exit 0 when accepted
  sign.py verify-slack SECRET TIMESTAMP SIGNATURE -> exit 0 when accepted
  sign.py verify-twilio TOKEN URL SIGNATURE       -> exit 0 when accepted
  sign.py verify-paddle SECRET HEADER             -> exit 0 when accepted
"""
import json
import base64
import datetime
import hashlib
import hmac
import sys


def main() -> int:
    cmd, args = sys.argv[1], sys.argv[2:]
    body = sys.stdin.buffer.read()
    if cmd == "stripe":
        import stripe

        secret, ts = args
        print(stripe.WebhookSignature.generate_signature_header(body.decode(), secret, int(ts)))
    elif cmd == "standard":
        from standardwebhooks.webhooks import Webhook

        secret, msg_id, ts = args
        when = datetime.datetime.fromtimestamp(int(ts), tz=datetime.timezone.utc)
        print(Webhook(secret).sign(msg_id, when, body.decode()))
    elif cmd == "github":
        (secret,) = args
        print("sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest())
    elif cmd == "shopify":
        (secret,) = args
        print(base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode())
    elif cmd == "verify-stripe":
        import stripe

        secret, header = args
        try:
            stripe.WebhookSignature.verify_header(body.decode(), header, secret, tolerance=None)
        except stripe.SignatureVerificationError as e:
            print(e, file=sys.stderr)
            return 1
    elif cmd == "verify-standard":
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError

        secret, msg_id, ts, sig = args
        headers = {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": sig}
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
        except WebhookVerificationError as e:
            print(e, file=sys.stderr)
            return 1
    elif cmd == "verify-standard-batch":
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError

        failures = 0
        for i, item in enumerate(json.loads(body)):
            try:
                Webhook(item["secret"]).verify(item["body"].encode(), item["headers"], json_parse=False)
            except WebhookVerificationError as e:
                failures += 1
                print(f"{i}: {e}", file=sys.stderr)
        return 1 if failures else 0
    elif cmd == "svix":
        from svix.webhooks import Webhook

        secret, msg_id, ts = args
        when = datetime.datetime.fromtimestamp(int(ts), tz=datetime.timezone.utc)
        print(Webhook(secret).sign(msg_id, when, body.decode()))
    elif cmd == "slack":
        from slack_sdk.signature import SignatureVerifier

        secret, ts = args
        print(SignatureVerifier(secret).generate_signature(timestamp=ts, body=body))
    elif cmd == "twilio":
        from twilio.request_validator import RequestValidator

        token, url = args
        print(RequestValidator(token).compute_signature(url, twilio_params(url, body)))
    elif cmd == "paddle":
        # The SDK verifies but does not sign; its own HMAC step makes the signature.
        from paddle_billing.Notifications import PaddleSignature

        secret, ts = args
        mac = PaddleSignature.calculate_hmac(secret, f"{ts}:".encode() + body).hexdigest()
        print(f"ts={ts};h1={mac}")
    elif cmd == "verify-svix":
        from svix.webhooks import Webhook, WebhookVerificationError

        secret, msg_id, ts, sig = args
        try:
            Webhook(secret).verify(body, {"svix-id": msg_id, "svix-timestamp": ts, "svix-signature": sig})
        except WebhookVerificationError as e:
            print(e, file=sys.stderr)
            return 1
    elif cmd == "verify-slack":
        from slack_sdk.signature import SignatureVerifier

        secret, ts, sig = args
        if not SignatureVerifier(secret).is_valid(body=body, timestamp=ts, signature=sig):
            print("slack_sdk refused it", file=sys.stderr)
            return 1
    elif cmd == "verify-twilio":
        from twilio.request_validator import RequestValidator

        token, url, sig = args
        params = body.decode() if "bodySHA256" in url else twilio_params(url, body)
        if not RequestValidator(token).validate(url, params, sig):
            print("twilio refused it", file=sys.stderr)
            return 1
    elif cmd == "verify-paddle":
        from paddle_billing.Notifications import Secret, Verifier

        secret, header = args

        class Request:
            headers = {"Paddle-Signature": header}

        request = Request()
        request.body = body
        if not Verifier().verify(request, Secret(secret)):
            print("paddle refused it", file=sys.stderr)
            return 1
    else:
        print(f"unknown command {cmd}", file=sys.stderr)
        return 2
    return 0


def twilio_params(url: str, body: bytes):
    """The form parameters Twilio signs: none when the URL carries the body's hash."""
    from urllib.parse import parse_qs

    class Form(dict):
        # Read like Django's QueryDict: every value of a repeated parameter.
        def getlist(self, name):
            return self[name]

    if "bodySHA256" in url:
        return None
    return Form(parse_qs(body.decode(), keep_blank_values=True))


if __name__ == "__main__":
    sys.exit(main())
