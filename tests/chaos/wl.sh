#!/usr/bin/env bash
# One chaos workload (tests/chaos/run starts 64, each in its own governed
# cgroup): until END exists, `taogatectl acquire` a grant for PostgreSQL and,
# when GRANTED, open one TCP connection to it. Every outcome is one log line:
#   GRANT <tao_id> <consumed_seq>   acquire said GRANTED
#   CONNECT <tao_id>                the connection after that grant succeeded
#   CONNFAIL <tao_id> <error>       it failed (counted; the grant is one-shot)
#   ACQFAIL <reason>                acquire failed (daemons down: expected)
# Errors are expected under chaos; check.py decides what may never happen.
# One process per iteration (taogatectl): parsing and the connect are bash
# builtins, so 64 of these leave the two cores to the daemons.
sock=$1 port=$2 log=$3 end=$4 pause=$5
errf=$log.connect-error
exec >>"$log"
re_tao='"tao_id": *"([0-9a-f]+)"' re_seq='"consumed_seq": *([0-9]+)' re_reason='"reason_code": *"([A-Z_]+)"'
while [ ! -e "$end" ]; do
  if [ -e "$pause" ]; then sleep 0.2; continue; fi
  out=$("$CTL" acquire --socket "$sock" "tcp:127.0.0.1:$port" --action db.read --reason chaos 2>&1)
  if [ $? -eq 0 ] && [[ $out == *'"GRANTED"'* ]]; then
    tao=none seq=0
    [[ $out =~ $re_tao ]] && tao=${BASH_REMATCH[1]}
    [[ $out =~ $re_seq ]] && seq=${BASH_REMATCH[1]}
    echo "GRANT $tao $seq"
    # `:` with a redirection: connect, then close at once (no fork).
    if : 2>"$errf" 3<>"/dev/tcp/127.0.0.1/$port"; then
      echo "CONNECT $tao"
    else
      read -r err <"$errf" || err=?
      err=${err##*: }
      echo "CONNFAIL $tao ${err// /_}"
    fi
    sleep 0.$(( 1 + RANDOM % 3 ))
  else
    reason=other
    if [[ $out =~ $re_reason ]]; then reason=${BASH_REMATCH[1]}
    else  # the first words of taogatectl's error (gRPC status text), as one token
      last=${out##*$'\n'}; last=${last#*acquire: }; last=${last:0:40}; reason=${last//[^A-Za-z0-9_.:-]/_}
    fi
    echo "ACQFAIL $reason"
    sleep 1.$(( RANDOM % 10 ))   # back off while a daemon is down
  fi
done
rm -f "$errf"
