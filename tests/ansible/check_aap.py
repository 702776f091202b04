#!/usr/bin/python3
"""Check the AAP configuration as code (aap/*.yml) and execution-environment.yml.

Every aap/ file must parse as YAML (Ansible's !unsafe/!vault tags allowed) and use only the
variable names of infra.aap_configuration's dispatch role; then the cross-references must hold:

  * each job template's project, inventory, execution environment and credentials exist, its
    playbook is a file of the project, and it prompts for variables on launch;
  * each schedule runs an existing template; each workflow node runs an existing template; the
    failover workflow's survey asks backup_name, failover_mode (planned/unplanned) and point;
  * credentials use an existing (custom or built-in) credential type;
  * each notification template a job template names exists, and an email notification template
    has AWX's email fields (host, port, sender, recipients, use_tls/use_ssl, username, password);
  * the rulebook activation's project, decision environment and EDA credentials exist, its
    rulebook is a file under rulebooks/, and every job template that rulebook launches exists;
  * the inventory source's path exists in the project;
  * variables referenced as {{ name }} are defined in aap/settings.yml or group_vars/all.yml,
    except vault_* secrets, which the operator supplies.

With --ee FILE it also checks the ansible-builder v3 definition: known top-level keys, a base
image, the ocpv-dr .deb added to the build context and copied into the image.

Usage: check_aap.py --project-root DIR [--aap-dir DIR] [--ee FILE]
Prints one line per problem and exits 1 when there is any.
"""
import argparse
import glob
import os
import re
import sys

import yaml

# infra.aap_configuration dispatch variables this project may use, and the key holding names.
KNOWN_VARS = {
    "controller_credential_types", "controller_credentials", "controller_execution_environments",
    "controller_projects", "controller_inventories", "controller_inventory_sources",
    "controller_templates", "controller_schedules", "controller_workflows",
    "controller_notifications",
    "eda_credential_types", "eda_credentials", "eda_projects", "eda_decision_environments",
    "eda_rulebook_activations",
}
BUILTIN_CONTROLLER_CREDENTIAL_TYPES = {
    "Machine", "Source Control", "Vault", "Container Registry", "Red Hat Ansible Automation Platform",
    "OpenShift or Kubernetes API Bearer Token", "Amazon Web Services",
}
BUILTIN_EDA_CREDENTIAL_TYPES = {
    "Red Hat Ansible Automation Platform", "Source Control", "Container Registry", "Vault",
    "GitHub Personal Access Token", "GitLab Personal Access Token",
}
JINJA_VAR = re.compile(r"\{\{\s*([A-Za-z_]\w*)")
EE_TOP_LEVEL = {"version", "images", "dependencies", "additional_build_files",
                "additional_build_steps", "build_arg_defaults", "options"}


def ansible_loader():
    class Loader(yaml.SafeLoader):
        pass

    class Unsafe(str):
        """A value Ansible must not template (!unsafe): skipped by the variable check."""

    Loader.add_constructor("!unsafe", lambda loader, node: Unsafe(loader.construct_scalar(node)))
    Loader.add_constructor("!vault", lambda loader, node: Unsafe(loader.construct_scalar(node)))
    return Loader, Unsafe


LOADER, UNSAFE = ansible_loader()


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=LOADER)


def walk_strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from walk_strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk_strings(v)


def names(objs):
    return {o.get("name") for o in objs if isinstance(o, dict)}


def check(project_root, aap_dir, ee_path):
    problems = []

    def problem(where, what):
        problems.append(f"{where}: {what}")

    data = {}
    defined_vars = set()
    files = sorted(glob.glob(os.path.join(aap_dir, "*.yml")))
    if not files:
        problem(aap_dir, "no .yml files")
    for path in files:
        rel = os.path.relpath(path, project_root)
        try:
            doc = load_yaml(path)
        except (OSError, yaml.YAMLError) as e:
            problem(rel, f"not valid YAML: {e}")
            continue
        if isinstance(doc, list):  # a playbook (the loader), not a vars file
            continue
        if not isinstance(doc, dict):
            problem(rel, "expected a mapping of variables")
            continue
        for key, value in doc.items():
            if os.path.basename(path) == "settings.yml":
                defined_vars.add(key)
                continue
            if key not in KNOWN_VARS:
                problem(rel, f"{key} is not an infra.aap_configuration dispatch variable")
                continue
            if not isinstance(value, list) or not all(isinstance(o, dict) for o in value):
                problem(rel, f"{key} must be a list of mappings")
                continue
            for o in value:
                if not o.get("name"):
                    problem(rel, f"an entry of {key} has no name")
            data.setdefault(key, []).extend(value)
            data.setdefault("_files", {}).setdefault(key, rel)

    gv = os.path.join(project_root, "group_vars", "all.yml")
    if os.path.isfile(gv):
        defined_vars |= set((load_yaml(gv) or {}).keys())

    def where(key, obj):
        return f"{data.get('_files', {}).get(key, key)}: {key} {obj.get('name')!r}"

    projects = names(data.get("controller_projects", []))
    inventories = names(data.get("controller_inventories", []))
    ees = names(data.get("controller_execution_environments", []))
    creds = names(data.get("controller_credentials", []))
    cred_types = names(data.get("controller_credential_types", [])) | \
        BUILTIN_CONTROLLER_CREDENTIAL_TYPES
    templates = names(data.get("controller_templates", []))
    notifications = names(data.get("controller_notifications", []))
    orgs = set()

    for t in data.get("controller_templates", []):
        w = where("controller_templates", t)
        orgs.add(t.get("organization"))
        if t.get("project") not in projects:
            problem(w, f"project {t.get('project')!r} is not defined")
        if t.get("inventory") not in inventories:
            problem(w, f"inventory {t.get('inventory')!r} is not defined")
        if t.get("execution_environment") and t["execution_environment"] not in ees:
            problem(w, f"execution environment {t['execution_environment']!r} is not defined")
        for c in t.get("credentials", []):
            if c not in creds:
                problem(w, f"credential {c!r} is not defined")
        for event in ("started", "success", "error"):
            for n in t.get("notification_templates_" + event, []):
                if n not in notifications:
                    problem(w, f"notification template {n!r} is not defined")
        pb = t.get("playbook", "")
        if not pb or not os.path.isfile(os.path.join(project_root, pb)):
            problem(w, f"playbook {pb!r} does not exist in the project")
        if t.get("ask_variables_on_launch") is not True:
            problem(w, "ask_variables_on_launch must be true (EDA and the workflow pass extra vars)")

    # awx/main/notifications/email_backend.py: EmailBackend.init_parameters.
    email_fields = {"host", "port", "username", "password", "use_tls", "use_ssl", "sender",
                    "recipients", "timeout"}
    for n in data.get("controller_notifications", []):
        w = where("controller_notifications", n)
        if n.get("notification_type") == "email":
            conf = n.get("notification_configuration", {})
            missing = sorted(email_fields - {"timeout"} - set(conf))
            unknown = sorted(set(conf) - email_fields)
            if missing:
                problem(w, f"email notification_configuration lacks {', '.join(missing)}")
            if unknown:
                problem(w, f"email notification_configuration has unknown {', '.join(unknown)}")

    for p in data.get("controller_projects", []):
        if p.get("default_environment") and p["default_environment"] not in ees:
            problem(where("controller_projects", p), "default_environment is not defined")

    for s in data.get("controller_inventory_sources", []):
        w = where("controller_inventory_sources", s)
        if s.get("inventory") not in inventories:
            problem(w, f"inventory {s.get('inventory')!r} is not defined")
        if s.get("source_project") not in projects:
            problem(w, f"source_project {s.get('source_project')!r} is not defined")
        if not os.path.isfile(os.path.join(project_root, s.get("source_path", ""))):
            problem(w, f"source_path {s.get('source_path')!r} does not exist in the project")

    for c in data.get("controller_credentials", []):
        if c.get("credential_type") not in cred_types:
            problem(where("controller_credentials", c),
                    f"credential type {c.get('credential_type')!r} is not defined")

    for s in data.get("controller_schedules", []):
        w = where("controller_schedules", s)
        if s.get("unified_job_template") not in templates:
            problem(w, f"unified_job_template {s.get('unified_job_template')!r} does not exist")
        rrule = str(s.get("rrule", ""))
        if not re.search(r"DTSTART[:;]", rrule) or "RRULE:FREQ=" not in rrule:
            problem(w, f"rrule {rrule!r} is not a DTSTART + RRULE recurrence")

    for wf in data.get("controller_workflows", []):
        w = where("controller_workflows", wf)
        nodes = wf.get("simplified_workflow_nodes") or wf.get("workflow_nodes") or []
        if not nodes:
            problem(w, "has no nodes")
        ids = {n.get("identifier") for n in nodes}
        for n in nodes:
            ujt = n.get("unified_job_template")
            if ujt is None and "approval_node" not in n:
                problem(w, f"node {n.get('identifier')!r} runs nothing")
            if ujt is not None and ujt not in templates:
                problem(w, f"node {n.get('identifier')!r} runs {ujt!r}, which is not a job template")
            for link in ("success_nodes", "failure_nodes", "always_nodes"):
                for target in n.get(link, []) or []:
                    if target not in ids:
                        problem(w, f"node {n.get('identifier')!r} links to unknown node {target!r}")
        if wf.get("survey_enabled"):
            spec = (wf.get("survey_spec") or wf.get("survey") or {}).get("spec", [])
            by_var = {q.get("variable"): q for q in spec}
            if "failover" in str(wf.get("name", "")).lower():
                if "backup_name" not in by_var:
                    problem(w, "survey does not ask backup_name")
                mode = by_var.get("failover_mode")
                if not mode:
                    problem(w, "survey does not ask failover_mode")
                elif sorted(mode.get("choices", [])) != ["planned", "unplanned"]:
                    problem(w, f"failover_mode choices are {mode.get('choices')}, "
                               "expected planned and unplanned")
                if "point" not in by_var:
                    problem(w, "survey does not ask point (latest | RFC 3339)")

    eda_projects = names(data.get("eda_projects", []))
    des = names(data.get("eda_decision_environments", []))
    eda_cred_types = names(data.get("eda_credential_types", [])) | BUILTIN_EDA_CREDENTIAL_TYPES
    eda_creds = names(data.get("eda_credentials", []))
    for c in data.get("eda_credentials", []):
        if c.get("credential_type") not in eda_cred_types:
            problem(where("eda_credentials", c),
                    f"credential type {c.get('credential_type')!r} is not defined")
    activations = data.get("eda_rulebook_activations", [])
    if not activations:
        problem(aap_dir, "no eda_rulebook_activations")
    for a in activations:
        w = where("eda_rulebook_activations", a)
        if a.get("project") not in eda_projects:
            problem(w, f"project {a.get('project')!r} is not an EDA project")
        if a.get("decision_environment") not in des:
            problem(w, f"decision environment {a.get('decision_environment')!r} is not defined")
        for c in a.get("eda_credentials", []):
            if c not in eda_creds:
                problem(w, f"EDA credential {c!r} is not defined")
        rb_path = os.path.join(project_root, "rulebooks", a.get("rulebook", ""))
        if not os.path.isfile(rb_path):
            problem(w, f"rulebook {a.get('rulebook')!r} is not a file under rulebooks/")
            continue
        rb = load_yaml(rb_path) or []
        launched = set()
        needed_vars = set()
        for ruleset in rb:
            for src in ruleset.get("sources", []):
                for s in walk_strings(src):
                    needed_vars |= set(JINJA_VAR.findall(s))
            for rule in ruleset.get("rules", []):
                acts = rule.get("actions") or ([rule["action"]] if "action" in rule else [])
                for act in acts:
                    if isinstance(act, dict) and "run_job_template" in act:
                        launched.add(act["run_job_template"].get("name"))
                        needed_vars |= set(JINJA_VAR.findall(
                            str(act["run_job_template"].get("organization", ""))))
                for c in (rule.get("condition") if isinstance(rule.get("condition"), list)
                          else [rule.get("condition")]):
                    needed_vars |= set(re.findall(r"\bvars\.(\w+)", str(c)))
        for name in sorted(launched - templates):
            problem(w, f"its rulebook launches job template {name!r}, which is not defined")
        # Variables the rulebook needs: from the activation's extra_vars or a credential injector.
        provided = set((a.get("extra_vars") or {}).keys())
        cred_type_of = {c.get("name"): c.get("credential_type")
                        for c in data.get("eda_credentials", [])}
        injectors = {t.get("name"): ((t.get("injectors") or {}).get("extra_vars") or {})
                     for t in data.get("eda_credential_types", [])}
        for c in a.get("eda_credentials", []):
            provided |= set(injectors.get(cred_type_of.get(c), {}).keys())
        for v in sorted(needed_vars - provided):
            problem(w, f"the rulebook needs variable {v!r}; neither extra_vars nor an attached "
                       "credential provides it")

    # Templated values must name variables the configuration defines (vault_* come from the
    # operator's vault file).
    for key in KNOWN_VARS:
        for obj in data.get(key, []):
            for s in walk_strings(obj):
                if isinstance(s, UNSAFE):
                    continue
                for v in JINJA_VAR.findall(s):
                    if not v.startswith("vault_") and v not in defined_vars:
                        problem(where(key, obj), f"references undefined variable {v!r}")

    if len({o for o in orgs if o}) > 1:
        problem(aap_dir, f"job templates use several organizations: {sorted(orgs)}")

    if ee_path:
        problems.extend(check_ee(project_root, ee_path))
    return problems


def check_ee(project_root, ee_path):
    problems = []
    rel = os.path.relpath(ee_path, project_root)
    try:
        ee = load_yaml(ee_path)
    except (OSError, yaml.YAMLError) as e:
        return [f"{rel}: not valid YAML: {e}"]
    if not isinstance(ee, dict):
        return [f"{rel}: expected a mapping"]
    if ee.get("version") != 3:
        problems.append(f"{rel}: version must be 3 (ansible-builder v3 schema)")
    for k in ee:
        if k not in EE_TOP_LEVEL:
            problems.append(f"{rel}: unknown top-level key {k!r}")
    if not ((ee.get("images") or {}).get("base_image") or {}).get("name"):
        problems.append(f"{rel}: images.base_image.name is missing")
    debs = [f for f in ee.get("additional_build_files", []) or []
            if str(f.get("src", "")).endswith(".deb")]
    if not debs:
        problems.append(f"{rel}: no .deb in additional_build_files (the ocpv-dr package)")
    for f in ee.get("additional_build_files", []) or []:
        if set(f) != {"src", "dest"}:
            problems.append(f"{rel}: additional_build_files entries need exactly src and dest")
        if os.path.isabs(str(f.get("dest", ""))) or ".." in str(f.get("dest", "")).split("/"):
            problems.append(f"{rel}: dest {f.get('dest')!r} must be relative without '..'")
    steps = "\n".join(str(v) if not isinstance(v, list) else "\n".join(map(str, v))
                      for v in (ee.get("additional_build_steps") or {}).values())
    for f in debs:
        if f"_build/{f['dest']}" not in steps:
            problems.append(f"{rel}: the .deb added under {f['dest']!r} is never copied into the "
                            "image (additional_build_steps)")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project-root", required=True)
    ap.add_argument("--aap-dir")
    ap.add_argument("--ee")
    args = ap.parse_args()
    aap_dir = args.aap_dir or os.path.join(args.project_root, "aap")
    problems = check(args.project_root, aap_dir, args.ee)
    for p in problems:
        print(p)
    if not problems:
        print("AAP configuration consistent")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
