#!/usr/bin/env python3
"""Independent peers for the signature tests: the official `stripe` and `standardwebhooks`
libraries (and Python's own hmac for GitHub and Shopify, which publish no library).

Usage (body on stdin):
  sign.py stripe SECRET TIMESTAMP                 -> Stripe-Signature value
  sign.py standard SECRET MSG_ID TIMESTAMP        -> webhook-signature value
  sign.py github SECRET                           -> X-Hub-Signature-256 value
  sign.py shopify SECRET                          -> X-Shopify-Hmac-Sha256 value
  sign.py verify-stripe SECRET HEADER             -> exit 0 when the library accepts it
  sign.py verify-standard SECRET MSG_ID TIMESTAMP SIGNATURE -> exit 0 when accepted
  sign.py verify-standard-batch   (stdin: JSON [{secret, body, headers}]) -> exit 0 when all verify
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
    else:
        print(f"unknown command {cmd}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
