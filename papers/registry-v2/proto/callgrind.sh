#!/bin/sh
# Instructions per record: (Ir(2N) - Ir(N)) / N, minus noop's.
N=${N:-500000}
B=target/release/ins
ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null $B $1 $2 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
per() { a=$(ir $1 $N); b=$(ir $1 $((2*N))); echo "($b - $a) / $N" | bc -l; }
base=$(per noop)
echo "noop loop: $base instructions/record"
for v in ${@:-idx-hdr idx-exp5 idx-exp6 dense-shared paged-shared owner tls sync-hdr plain-hdr}; do
  p=$(per $v); printf "%-14s %6.1f\n" $v $(echo "$p - $base" | bc -l)
done
