"""The part of the Kubernetes check (Tools/k8s_check.sh) that reads the rendered manifests.

  lint MANIFEST_DIR PLAN_DIR
      what the schema does not say: the shards Job is Indexed, its pods never restart in place,
      completions = parallelism = the plan's shard count, the index comes from
      JOB_COMPLETION_INDEX, the merge Job mounts the same volume at the same path as the shards,
      both Jobs use the claim of pvc.yaml, which is ReadWriteMany.
  emulate MANIFEST_DIR BINARY VOLUME_DIR
      runs what the pods would run, here: the shard container's command once per index with
      JOB_COMPLETION_INDEX set and the container's env (no index, kernel or OpenBLAS variable of
      this shell), then the merge container's; the
      image's binary is BINARY and the volume's mount path is VOLUME_DIR, in the arguments and
      as the working directory.
Prints PASS or FAIL per check; exits 1 when one failed. Needs PyYAML (the venv of
kubernetes-validate has it).
"""
import json
import os
import subprocess
import sys

import yaml

failures = 0


def check(name, ok):
    global failures
    print(("PASS: " if ok else "FAIL: ") + name)
    if not ok:
        failures += 1


def load(directory, name):
    with open(os.path.join(directory, name)) as f:
        return yaml.safe_load(f)


def pod(job):
    return job["spec"]["template"]["spec"]


def container(job):
    return pod(job)["containers"][0]


def claims(job):
    return {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod(job).get("volumes", []) if "persistentVolumeClaim" in v}


def mounts(job):
    """(claim, mount path) pairs of the job's container."""
    names = claims(job)
    return sorted((names.get(m["name"]), m["mountPath"]) for m in container(job).get("volumeMounts", []))


def lint(manifests, plan_dir):
    with open(os.path.join(plan_dir, "plan.json")) as f:
        shards = len(json.load(f)["shards"])
    pvc, job, merge = (load(manifests, n) for n in ("pvc.yaml", "shards-job.yaml", "merge-job.yaml"))
    spec = job["spec"]
    check("shards Job: completionMode Indexed", spec.get("completionMode") == "Indexed")
    check("shards Job: restartPolicy Never", pod(job).get("restartPolicy") == "Never")
    check(f"shards Job: completions = parallelism = the plan's {shards} shards (got {spec.get('completions')}, {spec.get('parallelism')})",
          spec.get("completions") == shards and spec.get("parallelism") == shards)
    check("shards Job: retries bounded (backoffLimitPerIndex or backoffLimit)",
          isinstance(spec.get("backoffLimitPerIndex", spec.get("backoffLimit")), int))
    command = container(job).get("command", []) + container(job).get("args", [])
    env = {e["name"]: e for e in container(job).get("env", [])}
    index = env.get("JOB_COMPLETION_INDEX", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
    check("shards Job: JOB_COMPLETION_INDEX from the pod's completion index",
          index == "metadata.annotations['batch.kubernetes.io/job-completion-index']")
    check(f"shards Job: runs `shard DIR` taking its index from the environment: {command}",
          command[1:2] == ["shard"] and len(command) > 2 and "--index" not in command)
    threads = command[command.index("--threads") + 1] if "--threads" in command else None
    cpu = container(job).get("resources", {}).get("requests", {}).get("cpu")
    check(f"shards Job: --threads = the cores requested ({threads}, {cpu})", threads is not None and str(threads) == str(cpu))
    merge_command = container(merge).get("command", []) + container(merge).get("args", [])
    check(f"merge Job: runs `merge` on the shards' folder: {merge_command}",
          merge_command[1:2] == ["merge"] and merge_command[2:3] == command[2:3])
    check("merge Job: restartPolicy Never", pod(merge).get("restartPolicy") == "Never")
    check("merge Job: one pod", merge["spec"].get("completions", 1) == 1 and merge["spec"].get("completionMode", "NonIndexed") == "NonIndexed")
    check(f"merge Job: the same volume at the same path as the shards ({mounts(merge)})", mounts(merge) == mounts(job) and mounts(job))
    check("merge Job: the same image and working directory",
          container(merge).get("image") == container(job).get("image") and container(merge).get("workingDir") == container(job).get("workingDir"))
    name = pvc["metadata"]["name"]
    check(f"both Jobs mount the claim of pvc.yaml ({name})", {c for c, _ in mounts(job) + mounts(merge)} == {name})
    check("pvc.yaml: ReadWriteMany", "ReadWriteMany" in pvc["spec"].get("accessModes", []))


def emulate(manifests, binary, volume):
    job, merge = load(manifests, "shards-job.yaml"), load(manifests, "merge-job.yaml")
    (_, mount), = mounts(job)

    def local(word):
        return volume + word[len(mount):] if word == mount or word.startswith(mount + "/") else word

    def run(name, c, index=None):
        command = [binary] + [local(w) for w in (c.get("command", []) + c.get("args", []))[1:]]
        # a pod has the image's environment and the manifest's, not this shell's settings
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLURM_", "OPENBLAS_", "LANDSCRIBE_")) and k != "JOB_COMPLETION_INDEX" or k == "LANDSCRIBE_CACHE"}
        for e in c.get("env", []):
            if "value" in e:
                env[e["name"]] = local(e["value"])
        if index is not None:
            env["JOB_COMPLETION_INDEX"] = str(index)
        result = subprocess.run(command, env=env, cwd=local(c.get("workingDir", mount)), capture_output=True, text=True)
        failed = result.returncode != 0
        check(f"{name}: exit 0 (got {result.returncode})" + (f": {(result.stderr.strip().splitlines() or [''])[-1]}" if failed else ""), not failed)

    for i in range(job["spec"]["completions"]):
        run(f"pod {i} of the shards Job", container(job), i)
    run("the merge Job's pod", container(merge))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "lint":
        lint(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "emulate":
        emulate(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
    sys.exit(1 if failures else 0)
