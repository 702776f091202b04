#!/usr/bin/python3
"""Validate ansible-rulebook rulebooks: the upstream JSON schema plus this project's rules.

ansible-rulebook is not installable here, so the rulebooks are checked against its
ruleset_schema.json (a copy is in tests/fixtures/) with python3-jsonschema, and against the
domain rules of FACTS §1 and §4:

  * sources use a fully qualified plugin name; a webhook source requires a token;
  * conditions and throttle attributes read event.payload.* (the webhook wraps the body there),
    never event.kind or other top-level event keys;
  * a rule acting on readyToUse fires on MODIFIED too (a snapshot is rarely ready on ADDED);
  * a rule acting on VolumeSnapshots leaves Velero's own (label velero.io/backup-name, FACTS §13)
    alone;
  * run_job_template names exist as controller job templates (--templates FILE), organizations
    come from a variable; run_playbook names are playbooks of the project (--project-root).

Usage: check_rulebooks.py --schema SCHEMA [--templates aap/controller_templates.yml]
                          [--project-root DIR] RULEBOOK...
Prints one line per problem ("<file>: <where>: <problem>") and exits 1 when there is any.
"""
import argparse
import json
import os
import re
import sys

import jsonschema
import yaml

WEBHOOK_SOURCES = {"ansible.eda.webhook", "eda.builtin.webhook"}
# `event.` followed by anything but `payload` (word boundary so `events.` is not matched).
BAD_EVENT_REF = re.compile(r"(?<![\w.])event\.(?!payload\b)([A-Za-z_][\w]*)")
# Velero's own VolumeSnapshots excluded (FACTS §13).
VELERO_EXCLUDED = re.compile(
    r"""labels\[["']velero\.io/backup-name["']\]\s+is\s+not\s+defined""")
EVENT_REF = re.compile(r"(?<![\w.])event\.payload\.[\w.\[\]\"']+")


def ansible_loader():
    """A safe loader that also accepts Ansible's !unsafe / !vault tags (as plain strings)."""

    class Loader(yaml.SafeLoader):
        pass

    for tag in ("!unsafe", "!vault"):
        Loader.add_constructor(tag, lambda loader, node: loader.construct_scalar(node))
    return Loader


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=ansible_loader())


def condition_strings(cond):
    """All condition expressions of a rule (string, all/any/not_all lists)."""
    if isinstance(cond, str):
        return [cond]
    if isinstance(cond, dict):
        out = []
        for key in ("all", "any", "not_all"):
            out.extend(x for x in cond.get(key, []) if isinstance(x, str))
        return out
    return []


def rule_actions(rule):
    if "actions" in rule:
        return rule["actions"] or []
    return [rule["action"]] if "action" in rule else []


def check_rulebook(path, schema, templates, project_root):
    problems = []

    def problem(where, what):
        problems.append(f"{path}: {where}: {what}")

    try:
        doc = load_yaml(path)
    except (OSError, yaml.YAMLError) as e:
        problem("file", f"cannot be read as YAML: {e}")
        return problems

    validator = jsonschema.Draft7Validator(schema)
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        loc = "/".join(str(p) for p in err.absolute_path) or "(root)"
        problem(loc, f"schema: {err.message}")
    if problems or not isinstance(doc, list):
        return problems

    for i, ruleset in enumerate(doc):
        rs = f"ruleset {ruleset.get('name', i)!r}"
        for j, source in enumerate(ruleset.get("sources", [])):
            plugins = [k for k in source if k not in ("name", "filters")]
            if len(plugins) != 1:
                problem(f"{rs} source {j}", f"expected exactly one source plugin, got {plugins}")
                continue
            plugin = plugins[0]
            if plugin.count(".") < 2:
                problem(f"{rs} source {j}", f"source {plugin!r} is not fully qualified (FQCN)")
            args = source[plugin] or {}
            if plugin in WEBHOOK_SOURCES:
                if not args.get("token"):
                    problem(f"{rs} source {j}", "webhook source without token authentication")
                if "port" not in args:
                    problem(f"{rs} source {j}", "webhook source without a port")

        for rule in ruleset.get("rules", []):
            where = f"{rs} rule {rule.get('name')!r}"
            conds = condition_strings(rule.get("condition"))
            for c in conds:
                for m in BAD_EVENT_REF.finditer(c):
                    problem(where, f"condition reads event.{m.group(1)}: ansible.eda.webhook puts "
                                   "the POSTed body under event.payload")
                if "readyToUse" in c and '"ADDED"' in c and '"MODIFIED"' not in c:
                    problem(where, "acts on readyToUse on ADDED only: snapshots become ready on "
                                   "a later MODIFIED event")
                if ('"VolumeSnapshot"' in c or "readyToUse" in c) \
                        and not VELERO_EXCLUDED.search(c):
                    problem(where, "acts on VolumeSnapshots without excluding Velero's own "
                                   '(labels["velero.io/backup-name"] is not defined)')
            throttle = rule.get("throttle")
            if throttle:
                for attr in throttle.get("group_by_attributes", []):
                    if not str(attr).startswith("event.payload."):
                        problem(where, f"throttle groups by {attr!r}, not an event.payload field")
            for action in rule_actions(rule):
                if not isinstance(action, dict):
                    continue
                for kind in ("run_job_template", "run_workflow_template"):
                    if kind in action:
                        a = action[kind]
                        if templates is not None and kind == "run_job_template" \
                                and a.get("name") not in templates:
                            problem(where, f"job template {a.get('name')!r} is not defined in the "
                                           "AAP configuration")
                        if "{{" not in str(a.get("organization", "")):
                            problem(where, "organization is not taken from a variable")
                        extra = (a.get("job_args") or {}).get("extra_vars") or {}
                        for k, v in extra.items():
                            for m in BAD_EVENT_REF.finditer(str(v)):
                                problem(where, f"extra var {k} reads event.{m.group(1)} instead "
                                               "of event.payload")
                if "run_playbook" in action and project_root:
                    name = action["run_playbook"].get("name", "")
                    if not os.path.isfile(os.path.join(project_root, name)):
                        problem(where, f"run_playbook {name!r} does not exist under the project "
                                       "root")
    return problems


def job_template_names(path):
    doc = load_yaml(path) or {}
    return {t.get("name") for t in doc.get("controller_templates", []) if isinstance(t, dict)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schema", required=True)
    ap.add_argument("--templates", help="aap/controller_templates.yml")
    ap.add_argument("--project-root")
    ap.add_argument("rulebooks", nargs="+")
    args = ap.parse_args()
    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)
    templates = job_template_names(args.templates) if args.templates else None
    problems = []
    for rb in args.rulebooks:
        problems.extend(check_rulebook(rb, schema, templates, args.project_root))
    for p in problems:
        print(p)
    if not problems:
        print(f"{len(args.rulebooks)} rulebook(s) valid")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
