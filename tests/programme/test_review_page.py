"""Returning a report without a comment (issue 12 item 4): the page says why, in its language, naming no field."""

from tests.helpers import login, token
from tests.programme.test_workflow import upload


def test_return_without_comment_is_explained_in_the_page_language(client, daoli_file):
    rid = upload(client, token(client, "daoli"), daoli_file).json()["id"]
    csrf = login(client, "office")
    r = client.post(f"/programme/reports/{rid}/review", data={"decision": "return", "comment": " ",
                                                              "csrf_token": csrf})
    assert r.status_code == 200 and r.url.path == f"/programme/reports/{rid}"
    flash = r.text[r.text.index('class="flash error"'):][:300]
    assert "退回报告须填写审核意见" in flash
    assert "comment" not in flash and "字段" not in flash and "needs a comment" not in flash
    client.cookies.set("lang", "en")
    r = client.post(f"/programme/reports/{rid}/review", data={"decision": "return", "comment": "",
                                                              "csrf_token": csrf})
    flash = r.text[r.text.index('class="flash error"'):][:300]
    assert "Returning a report needs a comment saying what to change" in flash and "退回" not in flash
    # still awaiting review; with a comment it is returned
    r = client.post(f"/programme/reports/{rid}/review", data={"decision": "return", "comment": "面积有误",
                                                              "csrf_token": csrf})
    assert "returned" in r.text
