from composer import create_app

app = create_app()
