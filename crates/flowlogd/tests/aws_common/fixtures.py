"""Fixture steps on moto for the AWS tests: reads a JSON list of steps on stdin, prints a
JSON list of results. Uses the environment's AWS_* settings (moto's endpoint)."""
import json
import sys

import boto3

ENDPOINT = None


def client(name, creds=None):
    kw = {"endpoint_url": ENDPOINT, "region_name": "us-east-1"}
    if creds:
        kw.update(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                  aws_session_token=creds.get("SessionToken"))
    return boto3.client(name, **kw)


def run(step):
    op = step["op"]
    creds = step.get("creds")
    if op == "create_bucket":
        client("s3", creds).create_bucket(Bucket=step["bucket"])
    elif op == "create_queue":
        return client("sqs", creds).create_queue(QueueName=step["name"])["QueueUrl"]
    elif op == "queue_arn":
        a = client("sqs", creds).get_queue_attributes(QueueUrl=step["queue_url"], AttributeNames=["QueueArn"])
        return a["Attributes"]["QueueArn"]
    elif op == "notify":
        arn = run({"op": "queue_arn", "queue_url": step["queue_url"], "creds": creds})
        client("s3", creds).put_bucket_notification_configuration(
            Bucket=step["bucket"],
            NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
        )
    elif op == "put":
        with open(step["path"], "rb") as f:
            client("s3", creds).put_object(Bucket=step["bucket"], Key=step["key"], Body=f.read())
    elif op == "send":
        client("sqs", creds).send_message(QueueUrl=step["queue_url"], MessageBody=step["body"])
    elif op == "queue_depth":
        a = client("sqs", creds).get_queue_attributes(
            QueueUrl=step["queue_url"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        return {k: int(v) for k, v in a["Attributes"].items()}
    elif op == "user":
        iam = client("iam", creds)
        iam.create_user(UserName=step["name"])
        for i, p in enumerate(step.get("policies", [])):
            iam.put_user_policy(UserName=step["name"], PolicyName=f"p{i}", PolicyDocument=json.dumps(p))
        k = iam.create_access_key(UserName=step["name"])["AccessKey"]
        return {"AccessKeyId": k["AccessKeyId"], "SecretAccessKey": k["SecretAccessKey"]}
    elif op == "role":
        iam = client("iam", creds)
        arn = iam.create_role(RoleName=step["name"], AssumeRolePolicyDocument=json.dumps(step["trust"]))["Role"]["Arn"]
        for i, p in enumerate(step.get("policies", [])):
            iam.put_role_policy(RoleName=step["name"], PolicyName=f"p{i}", PolicyDocument=json.dumps(p))
        return arn
    elif op == "assume":
        r = client("sts", creds).assume_role(RoleArn=step["role_arn"], RoleSessionName="fixture")
        c = r["Credentials"]
        return {"AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"], "SessionToken": c["SessionToken"]}
    elif op == "caller":
        return client("sts", creds).get_caller_identity()["Account"]
    elif op == "flow_log":
        ec2 = client("ec2", creds)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        r = ec2.create_flow_logs(ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL",
                                 LogDestinationType="s3", LogDestination=step["destination"])
        return r["FlowLogIds"][0]
    else:
        raise SystemExit(f"unknown step {op}")
    return None


def main():
    global ENDPOINT
    import os
    ENDPOINT = os.environ["MOTO_ENDPOINT"]
    steps = json.load(sys.stdin)
    print(json.dumps([run(s) for s in steps]))


main()
