"""Expand template.yaml as CloudFormation sees it after the SAM transform.

`sam package` puts each function's code in S3 first, so CodeUri is pointed at an S3 key
named after the function before the transform, as it would be. The result (plain
CloudFormation: functions, roles with their policies, event source mappings, the HTTP
API's routes, Globals merged into every function) is written as JSON to stdout.

Usage: translate.py TEMPLATE [Name=Value ...]   (parameter overrides)
"""

import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The template names no managed policies by name, so none need looking up."""

    def load(self):
        return {}


def main():
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
    with open(sys.argv[1]) as f:
        template = yaml_parse(f.read())
    params = dict(arg.split("=", 1) for arg in sys.argv[2:])
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://hookline-stack/{name}.zip"
    out = transform(template, params, NoManagedPolicies())
    json.dump(out, sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main()
