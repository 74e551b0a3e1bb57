//! The files under `deploy/` agree with each other and keep their promises.
//!
//! `deploy/iam-policy.json` is for users who deploy without CloudFormation,
//! so it must grant exactly what the template's task role grants: a change
//! to one without the other fails here. The template and the Dockerfile are
//! also checked for what the README relies on: one controller at a time, a
//! read-only root file system, a non-root user, and a health check that
//! calls a probe the image really ships.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

const TEMPLATE: &str = "deploy/cloudformation/backlog-scaler.yaml";
const IAM_POLICY: &str = "deploy/iam-policy.json";
const DOCKERFILE: &str = "deploy/Dockerfile";
const HEALTHZ: &str = "http://127.0.0.1:9090/healthz";

fn repo_file(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{relative}: {error}"))
}

fn template() -> Value {
    serde_saphyr::from_str(&repo_file(TEMPLATE))
        .unwrap_or_else(|error| panic!("{TEMPLATE}: {error}"))
}

fn iam_policy() -> Value {
    serde_json::from_str(&repo_file(IAM_POLICY))
        .unwrap_or_else(|error| panic!("{IAM_POLICY}: {error}"))
}

/// A statement granted only under a condition
/// (`{"Fn::If": [CONDITION, STATEMENT, {"Ref": "AWS::NoValue"}]}`): the
/// condition and the statement it grants.
fn conditional_statement(statement: &Value) -> Option<(&str, &Value)> {
    let branches = statement.get("Fn::If")?.as_array()?;
    assert_eq!(
        branches[2],
        serde_json::json!({"Ref": "AWS::NoValue"}),
        "a conditional statement grants nothing otherwise"
    );
    Some((branches[0].as_str()?, &branches[1]))
}

/// Every statement of the task role's inline policies, the conditional
/// ones as the statement they grant when their condition holds.
fn task_role_statements(template: &Value) -> Vec<Value> {
    let policies = template["Resources"]["TaskRole"]["Properties"]["Policies"]
        .as_array()
        .expect("TaskRole has inline Policies");
    policies
        .iter()
        .flat_map(|policy| {
            policy["PolicyDocument"]["Statement"]
                .as_array()
                .expect("each policy has a Statement list")
                .iter()
                .map(|statement| {
                    conditional_statement(statement)
                        .map_or_else(|| statement.clone(), |(_, granted)| granted.clone())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn by_sid(statements: &[Value], file: &str) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    for statement in statements {
        let sid = statement["Sid"].as_str().unwrap_or_else(|| {
            panic!("{file}: every statement needs a Sid to be compared: {statement}")
        });
        assert!(
            map.insert(sid.to_owned(), statement.clone()).is_none(),
            "{file}: Sid {sid} appears twice"
        );
    }
    map
}

/// A string or a list of strings, as IAM allows for Action and Resource.
fn string_list(value: &Value) -> Vec<String> {
    match value {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .map(|item| item.as_str().expect("a list of strings").to_owned())
            .collect(),
        other => panic!("expected a string or a list of strings, got {other}"),
    }
}

/// IAM action names are case-insensitive.
fn actions(statement: &Value) -> BTreeSet<String> {
    string_list(&statement["Action"])
        .into_iter()
        .map(|action| action.to_ascii_lowercase())
        .collect()
}

/// The value with each `{"Ref": PARAMETER}` replaced by the parameter's
/// default, which is what the standalone policy spells out.
fn with_parameter_defaults(value: &Value, parameters: &Value) -> Value {
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key("Ref") => {
            let name = map["Ref"].as_str().expect("Ref names a parameter");
            let default = &parameters[name]["Default"];
            assert!(
                !default.is_null(),
                "parameter {name} has no Default to compare with"
            );
            default.clone()
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| (key.clone(), with_parameter_defaults(item, parameters)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| with_parameter_defaults(item, parameters))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// What a template parameter of ARNs must look like in the standalone policy.
fn arn_form_for_parameter(parameter: &str) -> (&'static str, &'static str) {
    match parameter {
        "QueueArns" => ("arn:aws:sqs:", ""),
        "ServiceArns" => ("arn:aws:ecs:", ":service/"),
        "TargetRoleArns" => ("arn:aws:iam::", ":role/"),
        other => panic!("no standalone ARN form known for template parameter {other}: add it here"),
    }
}

/// What the ARN of a resource the template creates must look like in the
/// standalone policy.
fn arn_form_for_resource(template: &Value, resource: &str) -> (&'static str, &'static str) {
    match template["Resources"][resource]["Type"].as_str() {
        Some("AWS::DynamoDB::Table") => ("arn:aws:dynamodb:", ":table/"),
        other => {
            panic!("no standalone ARN form known for {resource} of type {other:?}: add it here")
        }
    }
}

#[test]
fn iam_policy_json_grants_exactly_what_the_task_role_grants() {
    let template = template();
    let role = by_sid(&task_role_statements(&template), TEMPLATE);
    let standalone = by_sid(
        iam_policy()["Statement"]
            .as_array()
            .expect("a Statement list"),
        IAM_POLICY,
    );

    assert_eq!(
        role.keys().collect::<Vec<_>>(),
        standalone.keys().collect::<Vec<_>>(),
        "the two files have different statements"
    );
    for (sid, granted) in &role {
        let documented = &standalone[sid];
        assert_eq!(
            granted["Effect"], documented["Effect"],
            "{sid}: Effect differs"
        );
        assert_eq!(
            actions(granted),
            actions(documented),
            "{sid}: actions differ"
        );
        assert_eq!(
            with_parameter_defaults(&granted["Condition"], &template["Parameters"]),
            documented["Condition"],
            "{sid}: conditions differ"
        );
        match &granted["Resource"] {
            Value::String(star) if star == "*" => {
                assert_eq!(documented["Resource"], "*", "{sid}: resources differ")
            }
            Value::Object(reference) if reference.contains_key("Ref") => {
                let parameter = reference["Ref"].as_str().expect("Ref names a parameter");
                let (prefix, contains) = arn_form_for_parameter(parameter);
                let arns = string_list(&documented["Resource"]);
                assert!(!arns.is_empty(), "{sid}: {IAM_POLICY} names no resource");
                for arn in arns {
                    assert!(
                        arn.starts_with(prefix) && arn.contains(contains),
                        "{sid}: {arn} in {IAM_POLICY} is not the kind of ARN the template's {parameter} holds"
                    );
                }
            }
            Value::Object(attribute) if attribute.contains_key("Fn::GetAtt") => {
                let resource = attribute["Fn::GetAtt"][0]
                    .as_str()
                    .expect("Fn::GetAtt names a resource");
                let (prefix, contains) = arn_form_for_resource(&template, resource);
                let arns = string_list(&documented["Resource"]);
                assert!(!arns.is_empty(), "{sid}: {IAM_POLICY} names no resource");
                for arn in arns {
                    assert!(
                        arn.starts_with(prefix) && arn.contains(contains),
                        "{sid}: {arn} in {IAM_POLICY} is not the ARN of the template's {resource}"
                    );
                }
            }
            other => panic!(
                "{sid}: the template's Resource {other} has a form this test does not compare"
            ),
        }
    }
}

#[test]
fn no_grant_uses_wildcard_actions_or_unconditioned_wildcard_resources() {
    let standalone = iam_policy()["Statement"]
        .as_array()
        .expect("a Statement list")
        .clone();
    let statements = task_role_statements(&template())
        .into_iter()
        .map(|statement| (TEMPLATE, statement))
        .chain(
            standalone
                .into_iter()
                .map(|statement| (IAM_POLICY, statement)),
        );
    for (file, statement) in statements {
        let sid = &statement["Sid"];
        for action in actions(&statement) {
            assert!(
                !action.contains('*'),
                "{file} {sid}: wildcard action {action}"
            );
        }
        if statement["Resource"] == "*" {
            assert!(
                statement["Condition"].is_object(),
                "{file} {sid}: Resource \"*\" needs a Condition that narrows it"
            );
        }
    }
}

#[test]
fn the_stack_runs_one_controller_or_two_that_share_a_lease() {
    let template = template();
    let service = &template["Resources"]["Service"]["Properties"];
    assert_eq!(
        service["DesiredCount"],
        serde_json::json!({"Ref": "Replicas"})
    );
    let replicas = &template["Parameters"]["Replicas"];
    assert_eq!(replicas["Default"], "1", "one controller unless asked");
    assert_eq!(replicas["AllowedValues"], serde_json::json!(["1", "2"]));
    // Two replicas get the lease table; the role may keep a lease in that
    // table and no other.
    let environment =
        serde_json::to_string(&controller_container(&template)["Environment"]).unwrap();
    assert!(
        environment.contains(
            r#"{"Fn::If":["TwoReplicas",{"Name":"BACKLOG_SCALER_LEASE_TABLE","Value":{"Ref":"LeaseTable"}}"#
        ),
        "{environment}"
    );
    assert_eq!(
        template["Conditions"]["TwoReplicas"],
        serde_json::json!({"Fn::Equals": [{"Ref": "Replicas"}, "2"]})
    );
    let table = &template["Resources"]["LeaseTable"];
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    assert_eq!(
        table["Properties"]["KeySchema"],
        serde_json::json!([{"AttributeName": "lease", "KeyType": "HASH"}])
    );
    let lease = task_role_statements(&template)
        .into_iter()
        .find(|statement| statement["Sid"] == "KeepLease")
        .expect("a KeepLease statement");
    assert_eq!(
        lease["Resource"],
        serde_json::json!({"Fn::GetAtt": ["LeaseTable", "Arn"]})
    );
    assert_eq!(
        service["DeploymentConfiguration"]["MaximumPercent"], 100,
        "a deployment must stop the old controller before it starts the new one"
    );
}

fn controller_container(template: &Value) -> Value {
    let containers = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
        .as_array()
        .expect("ContainerDefinitions");
    assert_eq!(containers.len(), 1, "the task runs the controller only");
    containers[0].clone()
}

#[test]
fn the_container_is_read_only_gets_its_settings_from_the_parameters_and_probes_healthz() {
    let template = template();
    let container = controller_container(&template);
    assert_eq!(container["ReadonlyRootFilesystem"], true);

    let environment = container["Environment"].as_array().expect("Environment");
    let variable = |name: &str| {
        environment
            .iter()
            .find(|variable| variable["Name"] == name)
            .unwrap_or_else(|| panic!("{name} is set"))["Value"]
            .clone()
    };
    assert_eq!(
        variable("BACKLOG_SCALER_POLICIES"),
        serde_json::json!({"Ref": "Policies"})
    );
    let publish = task_role_statements(&template)
        .into_iter()
        .find(|statement| actions(statement).contains("cloudwatch:putmetricdata"))
        .expect("the role may publish metrics");
    assert_eq!(
        variable("BACKLOG_SCALER_CLOUDWATCH_NAMESPACE"),
        publish["Condition"]["StringEquals"]["cloudwatch:namespace"],
        "the controller publishes to the namespace its role allows"
    );

    let probe = string_list(&container["HealthCheck"]["Command"]);
    assert_eq!(
        probe.first().map(String::as_str),
        Some("CMD"),
        "exec form: the image has no shell"
    );
    assert_eq!(probe.last().map(String::as_str), Some(HEALTHZ));
    assert_eq!(
        probe[1..],
        dockerfile_healthcheck()[..],
        "the ECS health check and the image's HEALTHCHECK run the same probe"
    );
}

/// The Dockerfile's instructions with continuation lines joined and
/// comments dropped, as (INSTRUCTION, arguments).
fn dockerfile_instructions() -> Vec<(String, String)> {
    let text = repo_file(DOCKERFILE);
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && pending.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(continued) => pending.push_str(continued),
            None => {
                pending.push_str(line);
                let (keyword, rest) = pending.split_once(' ').unwrap_or((&pending, ""));
                instructions.push((keyword.to_ascii_uppercase(), rest.trim().to_owned()));
                pending.clear();
            }
        }
    }
    instructions
}

/// The instructions of the final stage, the image that ships.
fn final_stage() -> Vec<(String, String)> {
    let all = dockerfile_instructions();
    let last_from = all
        .iter()
        .rposition(|(keyword, _)| keyword == "FROM")
        .expect("a FROM");
    all[last_from..].to_vec()
}

/// The exec-form command of the Dockerfile's HEALTHCHECK.
fn dockerfile_healthcheck() -> Vec<String> {
    let (_, arguments) = final_stage()
        .into_iter()
        .find(|(keyword, _)| keyword == "HEALTHCHECK")
        .expect("a HEALTHCHECK in the final stage");
    let exec_form = arguments
        .split_once("CMD ")
        .map(|(_, command)| command.trim())
        .expect("HEALTHCHECK ... CMD [..]");
    serde_json::from_str(exec_form).expect("HEALTHCHECK CMD in exec (JSON) form")
}

#[test]
fn the_image_runs_as_non_root_and_ships_the_probe_its_health_checks_call() {
    let stage = final_stage();
    let base = &stage[0].1;
    assert!(
        base.starts_with("gcr.io/distroless/"),
        "final image is distroless, got {base}"
    );

    let user = stage
        .iter()
        .rev()
        .find(|(keyword, _)| keyword == "USER")
        .map(|(_, user)| user.clone())
        .expect("the final stage sets USER");
    let uid = user.split(':').next().unwrap_or_default();
    assert!(
        !matches!(uid, "" | "0" | "root"),
        "the image must not run as root, USER is {user}"
    );

    let copied: Vec<String> = stage
        .iter()
        .filter(|(keyword, _)| keyword == "COPY")
        .filter_map(|(_, arguments)| arguments.split_whitespace().last().map(str::to_owned))
        .collect();
    let probe = dockerfile_healthcheck();
    assert_eq!(probe.last().map(String::as_str), Some(HEALTHZ));
    assert!(
        copied.contains(&probe[0]),
        "the health check runs {}, which the final stage does not copy in (it copies {copied:?})",
        probe[0]
    );
}

#[test]
fn the_role_may_assume_only_the_listed_target_roles_and_none_by_default() {
    let template = template();
    let policies = template["Resources"]["TaskRole"]["Properties"]["Policies"]
        .as_array()
        .expect("TaskRole has inline Policies");
    let conditional: Vec<(&str, &Value)> = policies
        .iter()
        .flat_map(|policy| policy["PolicyDocument"]["Statement"].as_array().unwrap())
        .filter_map(conditional_statement)
        .collect();
    assert_eq!(
        conditional.len(),
        1,
        "only the AssumeRole grant is conditional"
    );
    let (condition, granted) = conditional[0];
    assert_eq!(condition, "HasTargetRoles");
    assert_eq!(granted["Sid"], "AssumeTargetRoles");
    assert_eq!(
        actions(granted),
        BTreeSet::from(["sts:assumerole".to_owned()])
    );
    assert_eq!(
        granted["Resource"],
        serde_json::json!({"Ref": "TargetRoleArns"})
    );
    // No role listed by default, and the condition is "the list is not empty".
    assert_eq!(template["Parameters"]["TargetRoleArns"]["Default"], "");
    assert_eq!(
        template["Conditions"]["HasTargetRoles"],
        serde_json::json!({"Fn::Not": [{"Fn::Equals": [
            {"Fn::Join": ["", {"Ref": "TargetRoleArns"}]}, ""
        ]}]})
    );
    // Every other grant is unconditional: AssumeRole is the only one a
    // stack without target roles lacks.
    let sts_elsewhere = task_role_statements(&template)
        .iter()
        .filter(|statement| statement["Sid"] != "AssumeTargetRoles")
        .any(|statement| actions(statement).iter().any(|a| a.starts_with("sts:")));
    assert!(!sts_elsewhere);
}

/// The actions `deploy/README.md`'s permission table documents (lower case).
fn documented_actions() -> BTreeMap<String, String> {
    let readme = repo_file("deploy/README.md");
    let section = readme
        .split("\n## Permissions\n")
        .nth(1)
        .expect("deploy/README.md has a Permissions section");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| {
            let (action, rest) = rest.split_once("` |")?;
            let why = rest.rsplit('|').nth(1).unwrap_or("").trim().to_owned();
            Some((action.to_ascii_lowercase(), why))
        })
        .filter(|(action, _)| action.contains(':'))
        .collect()
}

/// All Rust source text under `src/`, lower case and without underscores,
/// so an API's name (`GetQueueUrl`) can be found as its SDK call
/// (`get_queue_url()`) or type (`AssumeRoleProvider`).
fn source_text() -> String {
    fn walk(dir: &Path, text: &mut String) {
        for entry in std::fs::read_dir(dir).expect("src/ readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(&path, text);
            } else if path.extension().is_some_and(|e| e == "rs") {
                text.push_str(&std::fs::read_to_string(&path).expect("a source file"));
            }
        }
    }
    let mut text = String::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut text,
    );
    text.to_ascii_lowercase().replace('_', "")
}

/// Least privilege, kept honest: every action `iam-policy.json` grants is
/// documented with a reason in `deploy/README.md` (and nothing is documented
/// that is not granted), no action is a wildcard, and the controller's code
/// really calls each one (a grant nothing uses is one too many).
#[test]
fn every_granted_action_is_documented_used_and_not_a_wildcard() {
    let granted: BTreeSet<String> = iam_policy()["Statement"]
        .as_array()
        .expect("a Statement list")
        .iter()
        .flat_map(actions)
        .collect();
    assert!(!granted.is_empty());
    let documented = documented_actions();
    let source = source_text();
    for action in &granted {
        assert!(
            !action.contains('*') && !action.contains('?'),
            "{IAM_POLICY}: wildcard action {action}"
        );
        let why = documented.get(action).unwrap_or_else(|| {
            panic!("{action} is granted but not in deploy/README.md's Permissions table")
        });
        assert!(
            why.len() >= 20,
            "{action}: the reason {why:?} says too little"
        );
        let (_, api) = action.split_once(':').expect("service:Action");
        assert!(
            source.contains(api),
            "{action} is granted but no code under src/ calls {api}"
        );
    }
    for action in documented.keys() {
        assert!(
            granted.contains(action),
            "deploy/README.md documents {action}, which {IAM_POLICY} does not grant"
        );
    }
}
