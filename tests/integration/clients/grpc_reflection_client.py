#!/usr/bin/env python3
"""A gRPC client that knows nothing of tlsaudit's protos: it learns them from the daemon's
server reflection (grpc.reflection.v1alpha), then starts a scan, waits for it and lists its
findings, printing one JSON document. Used by tests/integration/daemon_test.cpp.

  grpc_reflection_client.py --server 127.0.0.1:PORT [--token T] --target 127.0.0.1:443
"""
import argparse
import json
import sys
import time

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


def reflection_messages():
    """The reflection request/response messages, declared here field by field (the subset this
    client uses; field numbers as in grpc's reflection.proto v1alpha)."""
    f = descriptor_pb2.FileDescriptorProto(name="tlsaudit_test_reflection.proto",
                                           package="grpc.reflection.v1alpha", syntax="proto3")
    T = descriptor_pb2.FieldDescriptorProto
    req = f.message_type.add(name="ServerReflectionRequest")
    req.oneof_decl.add(name="message_request")
    for name, number in (("host", 1), ("file_by_filename", 3), ("file_containing_symbol", 4),
                         ("list_services", 7)):
        fld = req.field.add(name=name, number=number, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
        if name != "host":
            fld.oneof_index = 0
    fdr = f.message_type.add(name="FileDescriptorResponse")
    fdr.field.add(name="file_descriptor_proto", number=1, type=T.TYPE_BYTES,
                  label=T.LABEL_REPEATED)
    svc = f.message_type.add(name="ServiceResponse")
    svc.field.add(name="name", number=1, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    lsr = f.message_type.add(name="ListServiceResponse")
    lsr.field.add(name="service", number=1, type=T.TYPE_MESSAGE, label=T.LABEL_REPEATED,
                  type_name=".grpc.reflection.v1alpha.ServiceResponse")
    err = f.message_type.add(name="ErrorResponse")
    err.field.add(name="error_code", number=1, type=T.TYPE_INT32, label=T.LABEL_OPTIONAL)
    err.field.add(name="error_message", number=2, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    resp = f.message_type.add(name="ServerReflectionResponse")
    resp.oneof_decl.add(name="message_response")
    resp.field.add(name="valid_host", number=1, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    for name, number, tname in (("file_descriptor_response", 4, "FileDescriptorResponse"),
                                ("list_services_response", 6, "ListServiceResponse"),
                                ("error_response", 7, "ErrorResponse")):
        resp.field.add(name=name, number=number, type=T.TYPE_MESSAGE, label=T.LABEL_OPTIONAL,
                       type_name=".grpc.reflection.v1alpha." + tname, oneof_index=0)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    cls = lambda n: message_factory.MessageFactory(pool).GetPrototype(
        pool.FindMessageTypeByName("grpc.reflection.v1alpha." + n))
    return cls("ServerReflectionRequest"), cls("ServerReflectionResponse")


class Reflected:
    def __init__(self, channel):
        self.req_cls, self.resp_cls = reflection_messages()
        self.call = channel.stream_stream(REFLECTION,
                                          request_serializer=self.req_cls.SerializeToString,
                                          response_deserializer=self.resp_cls.FromString)
        self.pool = descriptor_pool.DescriptorPool()
        self.files = {}

    def ask(self, **kw):
        (resp,) = list(self.call(iter([self.req_cls(**kw)]), timeout=10))
        if resp.WhichOneof("message_response") == "error_response":
            raise RuntimeError(resp.error_response.error_message)
        return resp

    def services(self):
        return [s.name for s in self.ask(list_services="").list_services_response.service]

    def load_symbol(self, symbol):
        resp = self.ask(file_containing_symbol=symbol)
        pending = []
        for raw in resp.file_descriptor_response.file_descriptor_proto:
            fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
            if fd.name not in self.files:
                pending.append(fd)
        # Dependencies first: add what can be added until nothing is left.
        for _ in range(len(pending) + 1):
            left = []
            for fd in pending:
                if all(dep in self.files for dep in fd.dependency):
                    self.pool.Add(fd)
                    self.files[fd.name] = fd
                else:
                    left.append(fd)
            pending = left
        if pending:
            for fd in pending:
                for dep in fd.dependency:
                    if dep not in self.files:
                        self.load_file(dep)
                self.pool.Add(fd)
                self.files[fd.name] = fd

    def load_file(self, name):
        resp = self.ask(file_by_filename=name)
        for raw in resp.file_descriptor_response.file_descriptor_proto:
            fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
            if fd.name in self.files:
                continue
            for dep in fd.dependency:
                if dep not in self.files:
                    self.load_file(dep)
            self.pool.Add(fd)
            self.files[fd.name] = fd

    def method(self, channel, service, name):
        sd = self.pool.FindServiceByName(service)
        md = sd.methods_by_name[name]
        factory = message_factory.MessageFactory(self.pool)
        req_cls = factory.GetPrototype(md.input_type)
        resp_cls = factory.GetPrototype(md.output_type)
        path = "/%s/%s" % (service, name)
        stub = channel.unary_unary(path, request_serializer=req_cls.SerializeToString,
                                   response_deserializer=resp_cls.FromString)
        return req_cls, stub


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--token", default="")
    ap.add_argument("--target", action="append", required=True)
    ap.add_argument("--wait", type=float, default=60)
    a = ap.parse_args()
    channel = grpc.insecure_channel(a.server)
    md = [("authorization", "Bearer " + a.token)] if a.token else []
    r = Reflected(channel)
    services = r.services()
    for s in ("tlsaudit.v1.ScanService", "tlsaudit.v1.FindingService"):
        r.load_symbol(s)
    start_cls, start = r.method(channel, "tlsaudit.v1.ScanService", "StartScan")
    get_cls, get = r.method(channel, "tlsaudit.v1.ScanService", "GetScan")
    list_cls, list_findings = r.method(channel, "tlsaudit.v1.FindingService", "ListFindings")
    scan = start(json_format.ParseDict({"targets": a.target, "name": "python"}, start_cls()),
                 metadata=md, timeout=30)
    deadline = time.monotonic() + a.wait
    while True:
        scan = get(get_cls(id=scan.id), metadata=md, timeout=30)
        state = json_format.MessageToDict(scan).get("state")
        if state in ("SCAN_DONE", "SCAN_FAILED", "SCAN_CANCELLED") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    req = json_format.ParseDict({"filter": {"scanId": scan.id}, "pageSize": 1000}, list_cls())
    page = list_findings(req, metadata=md, timeout=30)
    print(json.dumps({"services": services,
                      "scan": json_format.MessageToDict(scan),
                      "findings": json_format.MessageToDict(page).get("findings", [])}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except grpc.RpcError as e:
        print(json.dumps({"error": str(e.code()), "message": e.details()}))
        sys.exit(3)
