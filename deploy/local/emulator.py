"""What every playground process shares: the emulated world's names and clients.

The clients carry fixed dummy credentials, so a playground process can only
ever talk to the emulator it was pointed at, whatever AWS credentials the
user's shell holds.
"""

import boto3

REGION = "us-east-1"
QUEUE_NAME = "demo-jobs"
CLUSTER = "demo"
SERVICE = "workers"
TASK_FAMILY = "demo-worker"


def client(service: str, endpoint: str):
    """A boto3 client for `service` that talks only to the emulator at `endpoint`."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def queue_url(endpoint: str) -> str:
    return client("sqs", endpoint).get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]


def desired_and_running(ecs) -> tuple[int, int]:
    """The worker service's desired and running counts, as ECS reports them."""
    service = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    return service["desiredCount"], service["runningCount"]
