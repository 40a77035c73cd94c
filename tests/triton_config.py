"""The part of Triton Inference Server's ModelConfig protobuf (model_config.proto) that genrt writes.

Built at import time from a descriptor, so tests can parse a config.pbtxt with
protobuf's own text-format parser (which refuses unknown field names and enum
values) without Triton installed. Names, numbers and enum values follow
triton-inference-server/common, protobuf/model_config.proto.
"""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto
DATA_TYPES = ["TYPE_INVALID", "TYPE_BOOL", "TYPE_UINT8", "TYPE_UINT16", "TYPE_UINT32", "TYPE_UINT64", "TYPE_INT8",
              "TYPE_INT16", "TYPE_INT32", "TYPE_INT64", "TYPE_FP16", "TYPE_FP32", "TYPE_FP64", "TYPE_STRING",
              "TYPE_BF16"]


def _field(message, name, number, kind, label=F.LABEL_OPTIONAL, type_name=None):
    f = message.field.add(name=name, number=number, type=kind, label=label)
    if type_name:
        f.type_name = type_name


def _build():
    file = descriptor_pb2.FileDescriptorProto(name="genrt_tests/model_config.proto", package="inference",
                                              syntax="proto3")
    data_type = file.enum_type.add(name="DataType")
    for number, name in enumerate(DATA_TYPES):
        data_type.value.add(name=name, number=number)

    reshape = file.message_type.add(name="ModelTensorReshape")
    _field(reshape, "shape", 1, F.TYPE_INT64, F.LABEL_REPEATED)

    model_input = file.message_type.add(name="ModelInput")
    _field(model_input, "name", 1, F.TYPE_STRING)
    _field(model_input, "data_type", 2, F.TYPE_ENUM, type_name=".inference.DataType")
    _field(model_input, "dims", 4, F.TYPE_INT64, F.LABEL_REPEATED)
    _field(model_input, "reshape", 5, F.TYPE_MESSAGE, type_name=".inference.ModelTensorReshape")
    _field(model_input, "optional", 8, F.TYPE_BOOL)

    model_output = file.message_type.add(name="ModelOutput")
    _field(model_output, "name", 1, F.TYPE_STRING)
    _field(model_output, "data_type", 2, F.TYPE_ENUM, type_name=".inference.DataType")
    _field(model_output, "dims", 3, F.TYPE_INT64, F.LABEL_REPEATED)
    _field(model_output, "reshape", 5, F.TYPE_MESSAGE, type_name=".inference.ModelTensorReshape")

    batching = file.message_type.add(name="ModelDynamicBatching")
    _field(batching, "preferred_batch_size", 1, F.TYPE_INT32, F.LABEL_REPEATED)
    _field(batching, "max_queue_delay_microseconds", 2, F.TYPE_UINT64)
    _field(batching, "preserve_ordering", 3, F.TYPE_BOOL)

    group = file.message_type.add(name="ModelInstanceGroup")
    kind = group.enum_type.add(name="Kind")
    for number, name in enumerate(["KIND_AUTO", "KIND_GPU", "KIND_CPU", "KIND_MODEL"]):
        kind.value.add(name=name, number=number)
    _field(group, "name", 1, F.TYPE_STRING)
    _field(group, "count", 2, F.TYPE_INT32)
    _field(group, "gpus", 3, F.TYPE_INT32, F.LABEL_REPEATED)
    _field(group, "kind", 4, F.TYPE_ENUM, type_name=".inference.ModelInstanceGroup.Kind")

    config = file.message_type.add(name="ModelConfig")
    _field(config, "name", 1, F.TYPE_STRING)
    _field(config, "platform", 2, F.TYPE_STRING)
    _field(config, "max_batch_size", 4, F.TYPE_INT32)
    _field(config, "input", 5, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".inference.ModelInput")
    _field(config, "output", 6, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".inference.ModelOutput")
    _field(config, "instance_group", 7, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".inference.ModelInstanceGroup")
    _field(config, "dynamic_batching", 11, F.TYPE_MESSAGE, type_name=".inference.ModelDynamicBatching")
    _field(config, "backend", 17, F.TYPE_STRING)

    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("inference.ModelConfig"))


ModelConfig = _build()
