"""Dollars per million deliveries from the stack run's metered reports.

Reads the JSON lines `stack-cost` prints (one report per steady run: every billed request
by who made it, DynamoDB read/write units, Lambda GB-seconds) and prices them at
us-east-1 list prices, printing one Markdown table per run with its arithmetic.

Usage: price.py REPORTS.jsonl [--arch x86_64|arm64]
"""

import json
import sys

# us-east-1 list prices (USD), past each service's free tier.
PRICES = {
    "apigw": ("API Gateway HTTP API requests", 1.00 / 1e6),
    "lambda_requests": ("Lambda requests", 0.20 / 1e6),
    "lambda_gbs_x86_64": ("Lambda duration (GB-s, x86_64)", 0.0000166667),
    "lambda_gbs_arm64": ("Lambda duration (GB-s, arm64)", 0.0000133334),
    "sqs": ("SQS requests (per 64 KiB)", 0.40 / 1e6),
    "dynamodb_write": ("DynamoDB write request units", 0.625 / 1e6),
    "dynamodb_read": ("DynamoDB read request units", 0.125 / 1e6),
    "kms": ("KMS requests", 0.03 / 1e4),
    "scheduler": ("EventBridge Scheduler invocations", 1.00 / 1e6),
    "events": ("EventBridge custom events", 1.00 / 1e6),
    # Function URLs and SSM standard parameters cost nothing per request.
    "free": ("Function URL requests, SSM reads", 0.0),
}


def items(report, arch):
    """(price key, quantity, who) for each metered line."""
    for line in report["lines"]:
        who, what = line["who"], line["what"]
        if what == "lambda:Invoke":
            yield "lambda_requests", line["requests"], who
            yield f"lambda_gbs_{arch}", line["gb_seconds"], who
        elif what.startswith("dynamodb:"):
            yield "dynamodb_write", line["write_units"], who
            yield "dynamodb_read", line["read_units"], who
        elif what.startswith("sqs:"):
            yield "sqs", line["requests"], who
        elif what.startswith("kms:"):
            yield "kms", line["requests"], who
        elif what.startswith("events:"):
            yield "events", line["requests"], who
        elif who == "apigw":
            yield "apigw", line["requests"], who
        elif who == "scheduler" and what == "invocation":
            yield "scheduler", line["requests"], who
        else:
            yield "free", line["requests"], who


def short(who):
    return who.removesuffix("Function").lower()


def table(report, arch):
    s = report["scenario"]
    n = report["deliveries"]
    per = {}
    for key, qty, who in items(report, arch):
        if qty:
            total, by = per.setdefault(key, [0.0, {}])
            per[key][0] = total + qty
            by[short(who)] = by.get(short(who), 0.0) + qty
    out = [
        f"**{s['name']}**: {s['events']:,} events at fan-out {s['fan_out']}, "
        f"{n:,} deliveries, {report['payload_bytes']:,}-byte payloads ({arch})",
        "",
        "| item | per delivery | price | $ per million deliveries |",
        "|---|---:|---:|---:|",
    ]
    dollars = 0.0
    for key, (label, price) in PRICES.items():
        if key not in per:
            continue
        qty, by = per[key]
        each = qty / n
        cost = each * price * 1e6
        dollars += cost
        parts = ", ".join(f"{w} {q / n:.3g}" for w, q in sorted(by.items()))
        unit = f"${price:.10g}/GB-s" if key.startswith("lambda_gbs") else f"${price * 1e6:.3g}/M"
        out.append(f"| {label} ({parts}) | {each:.4g} | {unit} | {cost:.3f} |")
    out.append(f"| **total** | | | **{dollars:.2f}** |")
    return "\n".join(out), dollars


def main():
    arch = "x86_64"
    if "--arch" in sys.argv:
        arch = sys.argv[sys.argv.index("--arch") + 1]
    with open(sys.argv[1]) as f:
        # The functions' own log lines share the output; reports are the lines with a scenario.
        lines = [json.loads(line) for line in f if line.startswith("{")]
    reports = [r for r in lines if "scenario" in r]
    for r in reports:
        text, _ = table(r, arch)
        print(text)
        print()


if __name__ == "__main__":
    main()
