from metricli.cli import main

main()
