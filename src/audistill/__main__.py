from audistill.cli import main

main()
