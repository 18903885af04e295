"""Parse and format grid job parameters (key=value tokens and the older sendJob GO flags).

>>> params = job_params.parse("globus-user=mxp in-mode=local dir-in=/data files-in=a,b")
>>> params.files_in
('a', 'b')
>>> job_params.format(params)
'globus-user=mxp in-mode=local dir-in=/data files-in=a,b'
"""

from job_params.errors import JobParamsError
from job_params.formatter import format  # noqa: A004 - the API's promised name
from job_params.model import JobParams
from job_params.parser import parse

__all__ = ["JobParams", "JobParamsError", "format", "parse"]
