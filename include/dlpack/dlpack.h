/*!
 *  Copyright (c) 2017 -  by Contributors
 * \file dlpack.h
 * \brief The common header of DLPack, version 1.0 (https://github.com/dmlc/dlpack).
 *
 * Vendored by tensorfs under the Apache License 2.0 (see LICENSE beside this file). Only the
 * declarations of the v1.0 specification are here; the layouts are the ABI and must not change.
 * v1.0 has no float8/float6/float4 type codes (they arrived in v1.1): libtensorfs exports those
 * safetensors dtypes as kDLUInt (see include/tensorfs.h, "device placement").
 */
#ifndef DLPACK_DLPACK_H_
#define DLPACK_DLPACK_H_

/*! \brief Compatibility with C++ */
#ifdef __cplusplus
#define DLPACK_EXTERN_C extern "C"
#else
#define DLPACK_EXTERN_C
#endif

/*! \brief The current major version of dlpack */
#define DLPACK_MAJOR_VERSION 1

/*! \brief The current minor version of dlpack */
#define DLPACK_MINOR_VERSION 0

/*! \brief DLPACK_DLL prefix for windows */
#ifdef _WIN32
#ifdef DLPACK_EXPORTS
#define DLPACK_DLL __declspec(dllexport)
#else
#define DLPACK_DLL __declspec(dllimport)
#endif
#else
#define DLPACK_DLL
#endif

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*!
 * \brief The DLPack version. A major version change means the layout of DLManagedTensorVersioned
 * changed; a minor one adds enumeration values only.
 */
typedef struct {
  /*! \brief DLPack major version. */
  uint32_t major;
  /*! \brief DLPack minor version. */
  uint32_t minor;
} DLPackVersion;

/*! \brief The device type in DLDevice. */
#ifdef __cplusplus
typedef enum : int32_t {
#else
typedef enum {
#endif
  /*! \brief CPU device */
  kDLCPU = 1,
  /*! \brief CUDA GPU device */
  kDLCUDA = 2,
  /*! \brief Pinned CUDA CPU memory by cudaMallocHost */
  kDLCUDAHost = 3,
  /*! \brief OpenCL devices. */
  kDLOpenCL = 4,
  /*! \brief Vulkan buffer for next generation graphics. */
  kDLVulkan = 7,
  /*! \brief Metal for Apple GPU. */
  kDLMetal = 8,
  /*! \brief Verilog simulator buffer */
  kDLVPI = 9,
  /*! \brief ROCm GPUs for AMD GPUs */
  kDLROCM = 10,
  /*! \brief Pinned ROCm CPU memory allocated by hipMallocHost */
  kDLROCMHost = 11,
  /*! \brief Reserved extension device type, used for quickly test extension device */
  kDLExtDev = 12,
  /*! \brief CUDA managed/unified memory allocated by cudaMallocManaged */
  kDLCUDAManaged = 13,
  /*! \brief Unified shared memory allocated on a oneAPI non-partititioned device. */
  kDLOneAPI = 14,
  /*! \brief GPU support for next generation WebGPU standard. */
  kDLWebGPU = 15,
  /*! \brief Qualcomm Hexagon DSP */
  kDLHexagon = 16,
  /*! \brief Microsoft MAIA devices */
  kDLMAIA = 17,
} DLDeviceType;

/*! \brief A Device for Tensor and operator. */
typedef struct {
  /*! \brief The device type used in the device. */
  DLDeviceType device_type;
  /*! \brief The device index. For vanilla CPU memory, pinned memory, or managed memory, 0. */
  int32_t device_id;
} DLDevice;

/*! \brief The type code options DLDataType. */
typedef enum {
  /*! \brief signed integer */
  kDLInt = 0U,
  /*! \brief unsigned integer */
  kDLUInt = 1U,
  /*! \brief IEEE floating point */
  kDLFloat = 2U,
  /*! \brief Opaque handle type, reserved for testing purposes. */
  kDLOpaqueHandle = 3U,
  /*! \brief bfloat16 */
  kDLBfloat = 4U,
  /*! \brief complex number (C/C++/Python layout: compact struct per complex number) */
  kDLComplex = 5U,
  /*! \brief boolean */
  kDLBool = 6U,
} DLDataTypeCode;

/*!
 * \brief The data type the tensor can hold, in native endianness.
 *   - float: code = 2, bits = 32, lanes = 1
 *   - int8: code = 0, bits = 8, lanes = 1
 *   - std::complex<float>: code = 5, bits = 64, lanes = 1
 *   - bool: code = 6, bits = 8, lanes = 1
 */
typedef struct {
  /*! \brief Type code of base types (a DLDataTypeCode value, stored in 8 bits). */
  uint8_t code;
  /*! \brief Number of bits, common choices are 8, 16, 32. */
  uint8_t bits;
  /*! \brief Number of lanes in the type, used for vector types. */
  uint16_t lanes;
} DLDataType;

/*! \brief Plain C Tensor object, does not manage memory. */
typedef struct {
  /*!
   * \brief The data pointer: a host pointer, a CUDA device pointer, or an opaque handle.
   * `byte_offset` is added to it to reach the first element.
   */
  void* data;
  /*! \brief The device of the tensor */
  DLDevice device;
  /*! \brief Number of dimensions */
  int32_t ndim;
  /*! \brief The data type of the pointer */
  DLDataType dtype;
  /*! \brief The shape of the tensor */
  int64_t* shape;
  /*!
   * \brief strides of the tensor (in number of elements, not bytes); NULL means compact
   * row-major.
   */
  int64_t* strides;
  /*! \brief The offset in bytes to the beginning pointer to data */
  uint64_t byte_offset;
} DLTensor;

/*!
 * \brief C Tensor object that manages the memory of a DLTensor (the "legacy" form, exchanged in
 * PyCapsules named "dltensor"). The consumer calls `deleter(self)` once when done; the deleter
 * frees `self` as well.
 */
typedef struct DLManagedTensor {
  /*! \brief DLTensor which is being memory managed */
  DLTensor dl_tensor;
  /*! \brief the context of the producer; can be NULL. */
  void * manager_ctx;
  /*! \brief Destructor: destructs manager_ctx and deletes self. Can be NULL. */
  void (*deleter)(struct DLManagedTensor * self);
} DLManagedTensor;

/*! \brief bit mask to indicate that the tensor is read only. */
#define DLPACK_FLAG_BITMASK_READ_ONLY (1UL << 0UL)

/*! \brief bit mask to indicate that the tensor is a copy made by the producer. */
#define DLPACK_FLAG_BITMASK_IS_COPIED (1UL << 1UL)

/*!
 * \brief A versioned and managed C Tensor object (exchanged in PyCapsules named
 * "dltensor_versioned").
 */
typedef struct DLManagedTensorVersioned {
  /*! \brief The API and ABI version of the current managed Tensor */
  DLPackVersion version;
  /*! \brief the context of the producer; can be NULL. */
  void *manager_ctx;
  /*! \brief Destructor: destructs manager_ctx and deletes self. Can be NULL. */
  void (*deleter)(struct DLManagedTensorVersioned *self);
  /*! \brief Bitmask of DLPACK_FLAG_BITMASK_* flags, 0 by default. */
  uint64_t flags;
  /*! \brief DLTensor which is being memory managed */
  DLTensor dl_tensor;
} DLManagedTensorVersioned;

#ifdef __cplusplus
}  // DLPACK_EXTERN_C
#endif
#endif  // DLPACK_DLPACK_H_
