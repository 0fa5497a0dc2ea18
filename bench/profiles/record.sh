#!/bin/bash
# record.sh NAME WAIT_S DUR_S CMD... : runs CMD, and records perf system-wide
# (dwarf stacks, cpu-clock) for DUR_S seconds, starting WAIT_S seconds after CMD.
name=$1; wait_s=$2; dur=$3; shift 3
"$@" > $name.out 2> $name.err &
pid=$!
sleep $wait_s
perf record -a -e cpu-clock --call-graph dwarf,16384 -F 499 -o $name.data -- sleep $dur 2> $name.perf.err
wait $pid; echo "bench rc $?"
