"""`python -m doit`, less the 0.3-0.4 s of interpreter start and imports, for the tests.

The suite runs `doit` about 150 times; most of each run's CPU went to importing doit,
pyarrow and otc. This process imports them once, then for each request forks a child that
becomes what `python -m doit <args>` would be: its own process, in the request's directory,
with the request's environment and command line, its output in the request's files, exiting
through the interpreter as `python -m doit` does. What the child shares with its parent is
only modules already imported, none of which has done any work, and the hash seed. Settings
read only when an interpreter starts would not be taken: tests/doit_helpers.py starts a new
interpreter for a request that changes them (STARTUP_VARIABLES).

Protocol, a line of JSON each way: the parent writes {"cwd", "args", "env", "stdout",
"stderr"}; this process answers {"pid"} once the child runs, then {"returncode"} (negative
for a signal, as subprocess gives it).
"""

from __future__ import annotations

import json
import os
import sys

# doit names itself after sys.argv[0] when imported; under `python -m doit` that is "-m"
sys.argv[0] = "-m"
import doit.doit_cmd  # noqa: E402  (what `python -m doit` imports)
import otc.plan  # noqa: E402, F401  (what dodo.py imports: with it every stage module)


def main() -> None:
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    requests = sys.stdin
    while True:
        line = requests.readline()
        if not line:
            return
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            replies.close()
            _become(request)
            from doit.doit_cmd import DoitMain

            # leaves main() and the module like `python -m doit` leaves doit.__main__: the
            # interpreter then exits as usual (atexit handlers, buffers flushed)
            sys.exit(DoitMain().run(request["args"]))
        replies.write(json.dumps({"pid": pid}) + "\n")
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")


def _become(request: dict) -> None:
    """This child's directory, environment, command line and standard streams."""
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY),
                            (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                            (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        opened = os.open(path, flags, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = [os.path.join(os.path.dirname(doit.__file__), "__main__.py"), *request["args"]]
    sys.path[0] = request["cwd"]  # `python -m` puts the working directory first


if __name__ == "__main__":
    main()
