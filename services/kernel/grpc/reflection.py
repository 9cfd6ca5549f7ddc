"""gRPC server reflection, both versions: v1 (what newer grpcurl asks first) and v1alpha.

grpcio-reflection implements v1alpha only (grpc/grpc#38576). The v1 protocol is the v1alpha one
under another package name: the same messages, fields and numbers, so the same bytes on the wire.
So one servicer answers both, the v1 method decoding and encoding with the v1alpha message
classes. The v1 descriptor is v1alpha's with its package renamed, added to the default pool so
that reflection can describe the v1 service itself. When grpcio-reflection ships v1, use its.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

V1ALPHA_SERVICE: Final = reflection.SERVICE_NAME
V1_PACKAGE: Final = "grpc.reflection.v1"
V1_SERVICE: Final = f"{V1_PACKAGE}.ServerReflection"
_V1ALPHA_PACKAGE: Final = reflection_pb2.DESCRIPTOR.package
_V1_FILE: Final = "grpc/reflection/v1/reflection.proto"  # the path of the published proto


def serve_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    """Answer both reflection services on `server`, listing `service_names` and themselves."""
    _add_v1_descriptor()
    listed = [*service_names, V1_SERVICE, V1ALPHA_SERVICE]
    servicer = reflection.aio.ReflectionServicer(listed)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    info = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    v1 = grpc.method_handlers_generic_handler(V1_SERVICE, {"ServerReflectionInfo": info})
    server.add_generic_rpc_handlers((v1,))


def _add_v1_descriptor() -> None:
    pool = descriptor_pool.Default()
    try:
        pool.FindServiceByName(V1_SERVICE)
        return  # added already (another server in this process, or another library)
    except KeyError:
        pass
    pool.AddSerializedFile(v1_file().SerializeToString())


def v1_file() -> descriptor_pb2.FileDescriptorProto:
    """The v1 reflection proto: v1alpha's, renamed (its options name v1alpha's packages)."""
    file = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(file)
    file.name, file.package = _V1_FILE, V1_PACKAGE
    file.ClearField("options")
    for message in file.message_type:
        for field in message.field:
            if field.HasField("type_name"):  # set on message fields only
                field.type_name = _renamed(field.type_name)
    for service in file.service:
        for method in service.method:
            method.input_type = _renamed(method.input_type)
            method.output_type = _renamed(method.output_type)
    return file


def _renamed(type_name: str) -> str:
    return type_name.replace(f".{_V1ALPHA_PACKAGE}.", f".{V1_PACKAGE}.", 1)
