#!/usr/bin/env bash
# The chaos prober (tests/chaos/run starts it in a governed cgroup that no
# policy rule names): until END exists, connect to PostgreSQL every 50 ms.
# Each attempt is one log line "<up|down> <outcome>": down while the agent is
# dead (the file DOWN exists), outcome OPEN (enforcement open: a violation),
# EPERM (the gate refused) or the error text (counted, e.g. PostgreSQL down).
port=$1 log=$2 end=$3 down=$4
errf=$log.connect-error
exec >>"$log"
while [ ! -e "$end" ]; do
  state=up; [ -e "$down" ] && state=down
  if : 2>"$errf" 3<>"/dev/tcp/127.0.0.1/$port"; then
    echo "$state OPEN"
  else
    read -r err <"$errf" || err=?
    if [[ $err == *"Operation not permitted"* ]]; then echo "$state EPERM"
    else err=${err##*: }; echo "$state ${err// /_}"; fi
  fi
  sleep 0.05
done
rm -f "$errf"
