"""The fleet under test: queues, clusters, services and one policy each.

Policy ``i`` (0-based) scales service ``svc-NNNN`` in cluster
``bench-CCC`` (cluster ``i // services_per_cluster``) on queue ``q-NNNN``.
Queues hold a varied number of messages (0 to 40 by default), so with
services at 3 tasks, a target of 10 messages per task and at least 2 tasks
the policies' decisions vary: scale-in, hold and scale-out. The controller
runs in dry-run, so none of them becomes an ``UpdateService``.

Seeding talks to the emulator directly (not through the counting proxy),
from a pool of threads.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

TASK_FAMILY = "bench-worker"


def queue_name(i):
    return f"q-{i:04d}"


def service_name(i):
    return f"svc-{i:04d}"


def cluster_name(c):
    return f"bench-{c:03d}"


def messages_for(i, most):
    """A spread of backlogs, from empty to ``most`` messages."""
    if most <= 0:
        return 0
    return (i * 37) % (most + 1)


class Fleet:
    def __init__(self, policies, services_per_cluster, desired, most_messages):
        if policies % services_per_cluster:
            raise ValueError(
                f"--policies {policies} is not a multiple of --services-per-cluster {services_per_cluster}"
            )
        self.policies = policies
        self.services_per_cluster = services_per_cluster
        self.clusters = policies // services_per_cluster
        self.desired = desired
        self.most_messages = most_messages

    def cluster_of(self, i):
        return cluster_name(i // self.services_per_cluster)

    def total_messages(self):
        return sum(messages_for(i, self.most_messages) for i in range(self.policies))


def clients(endpoint, region, threads):
    config = Config(
        max_pool_connections=threads * 2,
        retries={"max_attempts": 5, "mode": "standard"},
        read_timeout=120,
    )
    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=region,
    )
    return (
        session.client("sqs", endpoint_url=endpoint, config=config),
        session.client("ecs", endpoint_url=endpoint, config=config),
    )


def seed(fleet, endpoint, region, threads, log):
    """Create every queue (with its messages), cluster and service."""
    sqs, ecs = clients(endpoint, region, threads)

    def make_queue(i):
        url = sqs.create_queue(QueueName=queue_name(i))["QueueUrl"]
        remaining = messages_for(i, fleet.most_messages)
        n = 0
        while remaining > 0:
            batch = min(10, remaining)
            entries = [
                {"Id": str(k), "MessageBody": f"job {i}-{n + k}"} for k in range(batch)
            ]
            answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
            if answer.get("Failed"):
                raise RuntimeError(f"{queue_name(i)}: send_message_batch failed: {answer['Failed']}")
            remaining -= batch
            n += batch

    def make_cluster(c):
        ecs.create_cluster(clusterName=cluster_name(c))

    def make_service(i):
        ecs.create_service(
            cluster=fleet.cluster_of(i),
            serviceName=service_name(i),
            taskDefinition=TASK_FAMILY,
            desiredCount=fleet.desired,
        )

    ecs.register_task_definition(
        family=TASK_FAMILY,
        containerDefinitions=[{"name": "worker", "image": "busybox", "memory": 128}],
    )
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(make_cluster, range(fleet.clusters)))
        log(f"created {fleet.clusters} clusters")
        list(pool.map(make_service, range(fleet.policies)))
        log(f"created {fleet.policies} services (desired count {fleet.desired})")
        list(pool.map(make_queue, range(fleet.policies)))
        log(f"created {fleet.policies} queues with {fleet.total_messages()} messages")


def write_policies(fleet, directory, poll_interval, target):
    """One policy file per queue and service, as a team would keep them."""
    os.makedirs(directory, exist_ok=True)
    for i in range(fleet.policies):
        text = (
            f"name: bench-{i:04d}\n"
            f"cluster: {fleet.cluster_of(i)}\n"
            f"service: {service_name(i)}\n"
            f"queues:\n"
            f"  - {queue_name(i)}\n"
            f"target_backlog_per_task: {target}\n"
            f"min_tasks: 2\n"
            f"max_tasks: 20\n"
            f"poll_interval: {poll_interval}s\n"
            f"scale_in:\n"
            f"  stabilization_window: 2m\n"
        )
        with open(os.path.join(directory, f"bench-{i:04d}.yaml"), "w", encoding="utf-8") as out:
            out.write(text)
