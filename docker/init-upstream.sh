#!/bin/sh
# Creates the demo upstream's repository (<root>/demo/project.git, one commit on main) unless it
# exists, ready for `pushgate dev-upstream --root <root>`. Used by docker/compose.yaml and by the
# test that runs the compose setup's commands without Docker.
set -eu
root="${1:-/repos}"
repo="$root/demo/project.git"
if [ -f "$repo/HEAD" ]; then
  echo "upstream repository exists: $repo"
  exit 0
fi
mkdir -p "$repo"
git init --quiet --bare --initial-branch=main "$repo"
git -C "$repo" config http.receivepack true
blob=$(printf '# demo project\n\nServed by the demo upstream; pushed to through pushgate.\n' | git -C "$repo" hash-object -w --stdin)
tree=$(printf '100644 blob %s\tREADME.md\n' "$blob" | git -C "$repo" mktree)
commit=$(GIT_AUTHOR_NAME=pushgate GIT_AUTHOR_EMAIL=demo@example.invalid \
  GIT_COMMITTER_NAME=pushgate GIT_COMMITTER_EMAIL=demo@example.invalid \
  git -C "$repo" commit-tree "$tree" -m "Initial commit")
git -C "$repo" update-ref refs/heads/main "$commit"
echo "created upstream repository $repo at $commit"
