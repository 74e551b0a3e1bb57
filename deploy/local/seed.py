"""Creates the emulated world the playground scales: a queue, a cluster, a
task definition and the worker service, starting at `--desired` tasks."""

import argparse

import emulator


def seed(endpoint: str, desired: int) -> str:
    """Create every resource; returns the queue URL."""
    sqs = emulator.client("sqs", endpoint)
    url = sqs.create_queue(QueueName=emulator.QUEUE_NAME)["QueueUrl"]
    ecs = emulator.client("ecs", endpoint)
    ecs.create_cluster(clusterName=emulator.CLUSTER)
    ecs.register_task_definition(
        family=emulator.TASK_FAMILY,
        containerDefinitions=[
            {"name": "worker", "image": "demo/worker:latest", "memory": 128, "essential": True}
        ],
    )
    ecs.create_service(
        cluster=emulator.CLUSTER,
        serviceName=emulator.SERVICE,
        taskDefinition=emulator.TASK_FAMILY,
        desiredCount=desired,
    )
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", required=True, help="emulator URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("--desired", type=int, default=1, help="the worker service's first desired count")
    args = parser.parse_args()
    print(seed(args.endpoint, args.desired))


if __name__ == "__main__":
    main()
