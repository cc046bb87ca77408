#!/bin/sh
# Deploys sample-app/ into the compose stack's agent: creates the app (once)
# and pushes a snapshot of the directory, as `git push deploy main` would.
set -eu
token=$(cat /run/secrets/pier_admin_token)
export PIER_TOKEN="$token"
pier apps create "$APP" 2>/dev/null || echo "app $APP exists: pushing a new release"
work=$(mktemp -d)
cp -R /src/sample-app/. "$work"
cd "$work"
git init -q -b main
git -c user.name=compose -c user.email=compose@localhost add -A
git -c user.name=compose -c user.email=compose@localhost commit -qm "sample app, deployed by compose"
# The token goes to git through its environment, not the URL or argv: git's
# shell expands $PIER_TOKEN when it runs the helper.
# shellcheck disable=SC2016
git -c credential.helper='!f() { echo username=pier; echo "password=$PIER_TOKEN"; }; f' \
	push "$PIER_API/git/$APP.git" main
echo "deployed: http://$APP.localhost:${PIER_HTTP_PORT:-8080}"
