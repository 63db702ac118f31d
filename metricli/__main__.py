from metricli.entry import main

main()
