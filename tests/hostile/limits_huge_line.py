# Attack: one huge line with no newline (50 MB in a single write), hoping the server buffers
# whole lines.
import sys

sys.stdout.write("x" * 50_000_000)
sys.stdout.flush()
