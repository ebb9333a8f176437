#!/usr/bin/env python3
"""Reads one object with boto3, the AWS SDK for Python, as someone holding
the bucket's credentials would: its tags, and whether a GET is served.

usage: s3object.py ENDPOINT BUCKET KEY   (credentials from AWS_ACCESS_KEY_ID
and AWS_SECRET_ACCESS_KEY); prints {"tags": {...}, "get": STATUS}.
"""
import json
import sys

import boto3
import botocore.config
from botocore.exceptions import ClientError

endpoint, bucket, key = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  config=botocore.config.Config(s3={"addressing_style": "path"}))
out = {}
try:
    out["tags"] = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
except ClientError as e:
    out["tags_error"] = e.response["Error"]["Code"]
try:
    s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    out["get"] = 200
except ClientError as e:
    out["get"] = e.response["ResponseMetadata"]["HTTPStatusCode"]
print(json.dumps(out))
