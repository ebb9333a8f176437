#!/usr/bin/env python3
"""Sets a bucket policy with boto3: s3policy.py ENDPOINT BUCKET POLICY_JSON
(credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)."""
import sys

import boto3
import botocore.config

endpoint, bucket, policy = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  config=botocore.config.Config(s3={"addressing_style": "path"}))
s3.put_bucket_policy(Bucket=bucket, Policy=policy)
