"""Who may talk DICOM to the deployed Orthanc: real associations with pynetdicom.

Reads JSON on standard input:

    {"host": "172.17.0.3", "port": 4242, "timeout": 10,
     "checks": [{"name": "...", "calling": "MEDIMG_VERIFY", "called": "MEDIMG_LAB1",
                 "op": "echo|store|find", "expect": "ok|refused", "bind": "172.17.0.250"}]}

``bind`` (optional) is the local source address of the association (a second address on this
machine, so the PACS sees another host). ``store`` sends one small generated CT instance.
Prints a JSON list (name, expect, got, detail, ok); exits 1 when any check got the other outcome.
"""
import json
import sys

from pydicom.dataset import FileMetaDataset, Dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, StudyRootQueryRetrieveInformationModelFind, Verification


def instance():
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality = 'DICOMACCESS', 'Access^Check', 'CT'
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, 'MONOCHROME2'
    ds.PixelData = b'\0\1' * 64
    return ds


def check(host, port, timeout, spec):
    ae = AE(ae_title=spec['calling'])
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    ae.add_requested_context(Verification)
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    kwargs = {'ae_title': spec['called']}
    if spec.get('bind'):
        kwargs['bind_address'] = (spec['bind'], 0)
    assoc = ae.associate(host, port, **kwargs)
    try:
        if not assoc.is_established:
            state = 'rejected' if assoc.is_rejected else 'aborted' if assoc.is_aborted else 'not established'
            return 'refused', 'association %s' % state
        if spec['op'] == 'echo':
            status = assoc.send_c_echo()
        elif spec['op'] == 'store':
            status = assoc.send_c_store(instance())
        else:
            query = Dataset()
            query.QueryRetrieveLevel, query.StudyInstanceUID = 'STUDY', ''
            answers = list(assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind))
            status = answers[-1][0] if answers else None
            if status is not None and 'Status' in status and status.Status == 0:
                return 'ok', '%d matches' % (len(answers) - 1)
        if status is None or 'Status' not in status:
            return 'refused', 'no response (the peer aborted)'
        code = int(status.Status)
        return ('ok' if code == 0 else 'refused'), 'status 0x%04X' % code
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()


def main():
    spec = json.load(sys.stdin)
    results = []
    for item in spec['checks']:
        got, detail = check(spec['host'], int(spec['port']), spec.get('timeout', 10), item)
        results.append({'name': item['name'], 'expect': item['expect'], 'got': got, 'detail': detail,
                        'ok': got == item['expect']})
    print(json.dumps(results))
    return 0 if all(r['ok'] for r in results) else 1


if __name__ == '__main__':
    sys.exit(main())
