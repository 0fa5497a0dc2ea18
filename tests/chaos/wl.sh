#!/usr/bin/env bash
# One chaos workload (tests/chaos/run starts 64, each in its own governed
# cgroup): until END exists, `taogatectl acquire` a grant for PostgreSQL and,
# when GRANTED, open one TCP connection to it. Every outcome is one log line:
#   GRANT <tao_id> <consumed_seq>   acquire said GRANTED
#   CONNECT <tao_id>                the connection after that grant succeeded
#   CONNFAIL <tao_id> <error>       it failed (counted; the grant is one-shot)
#   ACQFAIL <reason>                acquire failed (daemons down: expected)
# Errors are expected under chaos; check.py decides what may never happen.
sock=$1 port=$2 log=$3 end=$4 pause=$5
exec >>"$log"
while [ ! -e "$end" ]; do
  if [ -e "$pause" ]; then sleep 0.2; continue; fi
  out=$("$CTL" acquire --socket "$sock" "tcp:127.0.0.1:$port" --action db.read --reason chaos 2>&1)
  if [ $? -eq 0 ] && [[ $out == *'"GRANTED"'* ]]; then
    tao=$(grep -o '"tao_id": *"[0-9a-f]*' <<<"$out" | tail -n1 | grep -o '[0-9a-f]*$')
    seq=$(grep -o '"consumed_seq": *[0-9]*' <<<"$out" | tail -n1 | grep -o '[0-9]*$')
    echo "GRANT ${tao:-none} ${seq:-0}"
    if err=$( { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>&1); then
      echo "CONNECT ${tao:-none}"
      exec 3>&-
    else
      echo "CONNFAIL ${tao:-none} ${err##*: }"
    fi
  else
    reason=$(grep -o '"reason_code": *"[A-Z_]*' <<<"$out" | tail -n1 | grep -o '[A-Z_]*$')
    # else the first words of the error (gRPC status text), as one token
    [ -z "$reason" ] && reason=$(tail -n1 <<<"$out" | sed -e 's/^acquire: //' | cut -c1-48 | tr -c 'A-Za-z0-9_.:\n-' _)
    echo "ACQFAIL ${reason:-other}"
    sleep 0.2
  fi
  sleep 0.0$(( RANDOM % 10 ))
done
