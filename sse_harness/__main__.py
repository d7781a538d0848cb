from sse_harness.cli import main

main()
