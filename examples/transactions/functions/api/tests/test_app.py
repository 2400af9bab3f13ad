from app import lambda_handler


def test_rejects_empty_body() -> None:
    assert lambda_handler({"body": "{}"}, None)["statusCode"] == 400
