from hdversion.cli.app import main

main()
